"""Real receivers on 127.0.0.1: a well-behaved aiohttp app and raw sockets that misbehave."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web

from sidecar.delivery.attempt import Deliverer
from sidecar.domain import Job
from tests.receiver import Hit, listening_socket, serve_app
from tests.receiver import Receiver as SharedReceiver

SECRET = "whsec_" + base64.b64encode(b"test-signing-key-32-bytes-long!!").decode()
PAYLOAD_TEXT = '{"type": "lead.created", "data": {"lead": {"name": "Zoë", "note": "a, b: c"}}}'
TEN_MB = 10 * 1024 * 1024


@dataclass
class Receiver(SharedReceiver):
    """The shared receiver, with the routes below instead of scripts."""

    big_body_fully_sent: bool | None = None
    big_handler_done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def requests(self) -> list[Hit]:
        return self.hits


def make_job(url: str, **changes: Any) -> Job:
    job = Job(
        queue_id=uuid.uuid4(),
        webhook_id=uuid.uuid4(),
        lead_id=uuid.uuid4(),
        routing_rule_id=uuid.uuid4(),
        attempt_number=1,
        max_attempts=4,
        payload=PAYLOAD_TEXT,
        webhook_url=url,
        custom_headers={},
        timeout_ms=2000,
        retry_enabled=True,
        retry_delay_ms=1000,
        retry_backoff_multiplier=2.0,
        signing_secret=SECRET,
    )
    return replace(job, **changes)


def _app(receiver: Receiver) -> web.Application:
    async def record(request: web.Request) -> None:
        await receiver.note(request)

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"ok": True}, headers={"Set-Cookie": "session=abc", "X-Trace": "t1"})

    async def status(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="nope")

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=302, headers={"Location": "/ok"})

    async def retry_after(request: web.Request) -> web.Response:
        await record(request)
        code = int(request.query.get("code", "429"))
        return web.Response(status=code, headers={"Retry-After": request.query["value"]})

    async def invalid_utf8(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"ok \xff\xfe end", content_type="text/plain")

    async def big(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse(headers={"Content-Length": str(TEN_MB)})
        await response.prepare(request)
        chunk = b"x" * 65536
        receiver.big_body_fully_sent = False
        try:
            for _ in range(TEN_MB // len(chunk)):
                await response.write(chunk)
            receiver.big_body_fully_sent = True
        except (ConnectionError, RuntimeError):
            pass  # the client stopped reading and closed: expected
        finally:
            receiver.big_handler_done.set()
        return response

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/retry-after", retry_after)
    app.router.add_post("/invalid-utf8", invalid_utf8)
    app.router.add_post("/big", big)
    return app


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every HTTP test runs on both loops: the CLI runs the worker on uvloop when installed."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    async with serve_app(_app(state)) as state.base_url:
        yield state


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """A raw TCP server; `connections` counts accepted connections."""

    url: str
    connections: int = 0


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: Handler) -> RawServer:
        state = RawServer(url="")

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, sock=listening_socket())
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
        return state

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


@pytest.fixture
async def deliverer() -> AsyncIterator[Deliverer]:
    async with Deliverer(allow_private_targets=True, max_response_bytes=65536) as d:
        yield d


@pytest.fixture
async def guarded_deliverer() -> AsyncIterator[Deliverer]:
    async with Deliverer(allow_private_targets=False) as d:
        yield d
