"""A TCP proxy in front of PostgreSQL that loses replies after the server has committed them.

It reads just enough of the wire protocol to know when a client runs a statement whose
text contains `watch` (Parse names the statement, Bind runs it), and then, with a seeded
probability, cuts the connection in place of that statement's ReadyForQuery: the server
has committed, the client hears only that its connection is gone. That is the
ambiguous commit a network fault or a server crash can cause at any time.

Clients must connect without TLS (`sslmode=disable`), so every message is framed.
"""

from __future__ import annotations

import asyncio
import random
import struct
import threading
from dataclasses import dataclass, field

PARSE, BIND, READY = b"P", b"B", b"Z"


@dataclass
class _Session:
    """Per client connection: which prepared statements are watched, and whether one runs now."""

    watched: set[bytes] = field(default_factory=set)
    running_watched: bool = False


class CommitCutter:
    """Use as `with CommitCutter(pg_port, "record_webhook_attempts", seed) as proxy:`; `proxy.port`."""

    def __init__(self, upstream_port: int, watch: str, seed: int, chance: float = 0.3, limit: int = 25) -> None:
        self.upstream_port = upstream_port
        self.watch = watch.encode()
        self.chance = chance
        self.limit = limit
        self.cuts = 0
        self.port = 0
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="commit-cutter", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> CommitCutter:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._connection, "127.0.0.1", 0)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers |= {client_w, server_w}
        session = _Session()
        pumps = [asyncio.ensure_future(self._from_client(client_r, server_w, session)),
                 asyncio.ensure_future(self._from_server(server_r, client_w, session))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_w, server_w):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _from_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           session: _Session) -> None:
        startup_len = struct.unpack("!i", await reader.readexactly(4))[0]
        writer.write(struct.pack("!i", startup_len) + await reader.readexactly(startup_len - 4))
        while True:
            kind, body = await read_message(reader)
            self._note(kind, body, session)
            writer.write(kind + struct.pack("!i", len(body) + 4) + body)
            await writer.drain()

    def _note(self, kind: bytes, body: bytes, session: _Session) -> None:
        if kind == PARSE:
            name, _, rest = body.partition(b"\0")
            if self.watch in rest.partition(b"\0")[0]:
                session.watched.add(name)
        elif kind == BIND:
            statement = body.split(b"\0", 2)[1]
            session.running_watched = statement in session.watched

    async def _from_server(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           session: _Session) -> None:
        while True:
            kind, body = await read_message(reader)
            if kind == READY and session.running_watched:
                session.running_watched = False
                if self._should_cut():
                    return  # the statement committed; its client never hears so
            writer.write(kind + struct.pack("!i", len(body) + 4) + body)
            await writer.drain()

    def _should_cut(self) -> bool:
        if self.cuts >= self.limit or self._rng.random() >= self.chance:
            return False
        self.cuts += 1
        return True


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One typed protocol message: its type byte and its body."""
    kind = await reader.readexactly(1)
    length = struct.unpack("!i", await reader.readexactly(4))[0]
    return kind, await reader.readexactly(length - 4)
