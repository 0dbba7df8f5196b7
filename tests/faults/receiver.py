"""A webhook receiver on 127.0.0.1 that records every request and can misbehave on purpose.

It speaks just enough HTTP/1.1 by hand (keep-alive, Content-Length bodies) to answer in
ways a framework would not let it: resets, answers that never come, bodies dripped a
byte at a time or far larger than the sender reads. It runs its own event loop in a
thread, so the test's loop and the sidecar processes are free to do their work.

What it does to each request is a `Mode`, chosen by a `Chooser` from a stable key of
the request (the lead's `n` when the payload has one, else its `webhook-id`) and how
many times that delivery was seen before, so a seeded run makes the same choices
whatever order the requests arrive in, and from one run to the next.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from tests.receiver import reset

HEAD_LIMIT = 1 << 20
HANG_LIMIT_S = 30.0
HUGE_BODY_BYTES = 2 * 1024 * 1024
RETRY_AFTER_DATE_S = 3
DRIP_CHUNKS = 10


class Mode(Enum):
    """What the receiver does with one request."""

    OK = "ok"                # 200 at once
    ERROR = "error"          # 500
    THROTTLE = "throttle"    # 429 with Retry-After: 1
    THROTTLE_UNTIL = "throttle_until"  # 429 with Retry-After as an HTTP date, RETRY_AFTER_DATE_S ahead
    HANG = "hang"            # reads the request, never answers (the sender times out)
    RESET = "reset"          # reads the request, then resets the connection
    DRIP = "drip"            # 200 whose body arrives in small pieces, well within the timeout
    DRIP_FOREVER = "drip_forever"  # 200 whose body never finishes (the sender times out)
    HUGE = "huge"            # 200 with a body far beyond what the sender stores
    SLOW = "slow"            # 200 after `slow_s`


# The status a request's sender saw in full; None when no complete answer was sent.
ANSWERED: dict[Mode, int | None] = {
    Mode.OK: 200, Mode.ERROR: 500, Mode.THROTTLE: 429, Mode.THROTTLE_UNTIL: 429, Mode.HANG: None, Mode.RESET: None,
    Mode.DRIP: 200, Mode.DRIP_FOREVER: None, Mode.HUGE: 200, Mode.SLOW: 200,
}

Chooser = Callable[[str, int], Mode]


def always(mode: Mode) -> Chooser:
    return lambda _key, _seen: mode


def chaos(seed: int, weights: dict[Mode, int]) -> Chooser:
    """A seeded random mode per (delivery key, nth request for it): the same whatever the arrival order."""
    modes, counts = list(weights), list(weights.values())

    def choose(key: str, seen: int) -> Mode:
        return random.Random(f"{seed}:{key}:{seen}").choices(modes, counts)[0]
    return choose


@dataclass(frozen=True, slots=True)
class Hit:
    """One request as the receiver saw it."""

    webhook_id: str
    path: str
    mode: Mode
    received_at: float  # time.monotonic()
    body: bytes
    headers: dict[str, str]

    @property
    def answered(self) -> int | None:
        return ANSWERED[self.mode]


@dataclass
class _Request:
    path: str
    headers: dict[str, str]
    body: bytes


class ChaosReceiver:
    """Start with `with ChaosReceiver(chooser) as r:`; `r.url(path)`; `r.hits()` is thread-safe."""

    def __init__(self, chooser: Chooser = always(Mode.OK), slow_s: float = 0.2, drip_s: float = 0.2) -> None:
        self.chooser = chooser
        self.slow_s = slow_s
        self.drip_s = drip_s
        self.port = 0
        self._hits: list[Hit] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-receiver", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> ChaosReceiver:
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
        return await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024, limit=HEAD_LIMIT)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    # -- reading the ledger --------------------------------------------------------

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def count(self) -> int:
        with self._lock:
            return len(self._hits)

    def distinct_ids(self) -> int:
        with self._lock:
            return len(self._seen)

    # -- serving -------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # the sender hung up: nothing more to answer
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _one_exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is done."""
        request = await read_request(reader)
        if request is None:
            return False
        mode = self._record(request)
        return await self._answer(mode, reader, writer)

    def _record(self, request: _Request) -> Mode:
        webhook_id = request.headers.get("webhook-id", "")
        with self._lock:
            seen = self._seen.get(webhook_id, 0)
            self._seen[webhook_id] = seen + 1
        mode = self.chooser(stable_key(request.body, webhook_id), seen)
        hit = Hit(webhook_id, request.path, mode, time.monotonic(), request.body, request.headers)
        with self._lock:
            self._hits.append(hit)
        return mode

    async def _answer(self, mode: Mode, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if mode is Mode.RESET:
            reset(writer)
            return False
        if mode is Mode.HANG:
            await wait_for_hangup(reader)
            return False
        if mode is Mode.SLOW:
            await asyncio.sleep(self.slow_s)
        if mode in (Mode.DRIP, Mode.DRIP_FOREVER):
            await drip(writer, self.drip_s, forever=mode is Mode.DRIP_FOREVER)
            return mode is Mode.DRIP
        if mode is Mode.HUGE:
            await send_huge(writer)
            return False
        if mode is Mode.THROTTLE_UNTIL:
            await respond(writer, 429, "Too Many Requests", dated_retry_after(time.time()))
            return True
        await respond(writer, *_SIMPLE[mode])
        return True


_SIMPLE: dict[Mode, tuple[int, str, Sequence[tuple[str, str]]]] = {
    Mode.OK: (200, "OK", ()),
    Mode.SLOW: (200, "OK", ()),
    Mode.ERROR: (500, "Internal Server Error", ()),
    Mode.THROTTLE: (429, "Too Many Requests", (("Retry-After", "1"),)),
}


def stable_key(body: bytes, webhook_id: str) -> str:
    """The lead's `n` (tests number their leads), which unlike the webhook-id repeats across runs."""
    try:
        return str(json.loads(body)["data"]["lead"]["n"])
    except (ValueError, KeyError, TypeError):
        return webhook_id


def dated_retry_after(now: float) -> list[tuple[str, str]]:
    """Retry-After as an HTTP date, with the Date it is relative to (both by this machine's clock)."""
    return [("Date", email.utils.formatdate(now, usegmt=True)),
            ("Retry-After", email.utils.formatdate(now + RETRY_AFTER_DATE_S, usegmt=True))]


async def read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request (head and Content-Length body), or None at a clean end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1] if " " in lines[0] else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return _Request(path, headers, body)


async def respond(writer: asyncio.StreamWriter, status: int, reason: str,
                  headers: Sequence[tuple[str, str]] = (), body: bytes = b"done") -> None:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body)
    await writer.drain()


async def wait_for_hangup(reader: asyncio.StreamReader) -> None:
    """Say nothing until the sender gives up (or HANG_LIMIT_S, so the receiver always stops)."""
    try:
        async with asyncio.timeout(HANG_LIMIT_S):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return


async def drip(writer: asyncio.StreamWriter, total_s: float, forever: bool) -> None:
    length = DRIP_CHUNKS * (1000 if forever else 1)
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode())
    pause = total_s / DRIP_CHUNKS
    chunks = int(HANG_LIMIT_S / pause) if forever else DRIP_CHUNKS
    for _ in range(min(chunks, length)):
        writer.write(b"d")
        await writer.drain()
        await asyncio.sleep(pause)


async def send_huge(writer: asyncio.StreamWriter) -> None:
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE_BODY_BYTES}\r\n\r\n".encode())
    chunk = b"h" * 65536
    for _ in range(HUGE_BODY_BYTES // len(chunk)):
        writer.write(chunk)
        await writer.drain()  # raises once the sender stops reading at its cap and hangs up
