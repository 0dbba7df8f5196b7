"""The receiver the suites share: an aiohttp app on 127.0.0.1 that records every request.

`serve_app(app)` starts any aiohttp app on a free loopback port and yields its base URL;
`Receiver` answers each path from a script of replies. Misbehaving receivers build on
the same pieces: tests/http/conftest.py adds routes, tests/faults/receiver.py speaks
HTTP by hand and shares `reset`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hit:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


@dataclass
class Receiver:
    """Answers each path from a script of replies (the last one repeats); records every request."""

    base_url: str = ""
    hits: list[Hit] = field(default_factory=list)
    scripts: dict[str, list[Reply]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def script(self, path: str, *replies: Reply) -> str:
        self.scripts[path] = list(replies)
        return self.url(path)

    def hits_on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def note(self, request: web.Request) -> Hit:
        hit = Hit(request.path, dict(request.headers), await request.read(), request.method)
        self.hits.append(hit)
        return hit

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self.note(request)
        replies = self.scripts.get(request.path) or [reply(200)]
        current = replies.pop(0) if len(replies) > 1 else replies[0]
        return await current(request)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 24)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


def reply(status: int, body: str = "ok", headers: dict[str, str] | None = None) -> Reply:
    async def answer(_: web.Request) -> web.Response:
        return web.Response(status=status, text=body, headers=headers)
    return answer


def listening_socket(host: str = "127.0.0.1", family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def serve_app(app: web.Application, **runner_options: Any) -> AsyncIterator[str]:
    """Run `app` on a free 127.0.0.1 port; yields `http://127.0.0.1:<port>`."""
    runner = web.AppRunner(app, handle_signals=False, **runner_options)
    await runner.setup()
    sock = listening_socket()
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running(receiver: Receiver) -> AsyncIterator[Receiver]:
    """The scripted receiver, listening; its `base_url` set."""
    async with serve_app(receiver.app(), shutdown_timeout=0.5) as base_url:
        receiver.base_url = base_url
        yield receiver


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: SO_LINGER with a zero timeout."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
