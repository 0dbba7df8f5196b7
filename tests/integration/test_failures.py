"""Misbehaving receivers: each ends with the right error_type and stored body, none stalls the worker."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web

from sidecar.store.direct import DirectStore
from tests.integration.support import insert_lead, make_rule, run_once
from tests.receiver import Receiver, reply

TEN_MB = 10 * 1024 * 1024


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there once the socket is closed


@pytest.fixture
async def resetting_server() -> AsyncIterator[str]:
    """Reads the request head, then closes with RST instead of answering."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    finally:
        server.close()


async def slow(_: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.Response(text="too late")


async def huge(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": str(TEN_MB)})
    await response.prepare(request)
    chunk = b"y" * 65536
    try:
        for _ in range(TEN_MB // len(chunk)):
            await response.write(chunk)
    except (ConnectionError, RuntimeError):
        pass  # the sidecar stopped reading at its cap and hung up
    return response


async def not_utf8(_: web.Request) -> web.Response:
    return web.Response(body=b"ok \xff\xfe end\x00", content_type="text/plain")


async def test_every_failure_kind_is_classified_and_none_stalls_the_others(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver, resetting_server: str
) -> None:
    targets = {
        "timeout": (receiver.script("/slow", slow), {"timeout_ms": 300}),
        "refused": (closed_port_url(), {}),
        "reset": (resetting_server, {}),
        "redirect": (receiver.script("/moved", reply(302, "see /elsewhere", {"Location": "/elsewhere"})), {}),
        "not_utf8": (receiver.script("/bytes", not_utf8), {}),
        "huge": (receiver.script("/huge", huge), {}),
        "healthy": (receiver.url("/fine"), {}),
    }
    rules = {}
    for name, (url, config) in targets.items():
        rule = await make_rule(db, url, retry_enabled=False, **config)
        rules[rule.id] = name
        await insert_lead(db, rule.funnel_id)

    async with asyncio.timeout(60):
        await run_once(store)

    logs = {rules[r["routing_rule_id"]]: r for r in await db.fetch("select * from webhook_logs")}
    assert set(logs) == set(targets)
    assert (logs["timeout"]["error_type"], logs["timeout"]["response_status"]) == ("timeout", None)
    assert logs["refused"]["error_type"] == "network"
    assert logs["reset"]["error_type"] == "network"
    redirect = logs["redirect"]
    assert (redirect["error_type"], redirect["response_status"]) == ("http_error", 302)
    assert redirect["response_body"] == "see /elsewhere"
    assert redirect["error_message"].startswith("HTTP 302")
    assert receiver.hits_on("/elsewhere") == []
    assert logs["not_utf8"]["status"] == "success"
    assert logs["not_utf8"]["response_body"] == "ok \ufffd\ufffd end\ufffd"
    assert logs["huge"]["status"] == "success"
    huge_headers = sum(len(k) + len(v) + 4 for k, v in json.loads(logs["huge"]["response_headers"]).items())
    assert logs["huge"]["response_body"] == "y" * (65536 - huge_headers)  # headers share the cap
    assert logs["healthy"]["status"] == "success"
    assert await db.fetchval("select count(*) from webhook_queue where status = 'processing'") == 0


async def test_a_receiver_that_never_answers_does_not_hold_up_another_host(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    stuck = await make_rule(db, receiver.script("/slow", slow), timeout_ms=1000, retry_enabled=False)
    fine = await make_rule(db, "http://localhost:%s/fine" % receiver.base_url.rsplit(":", 1)[1])
    for _ in range(3):
        await insert_lead(db, stuck.funnel_id)
    await insert_lead(db, fine.funnel_id)

    async with asyncio.timeout(60):
        await run_once(store, per_host_concurrency=1, concurrency=10)

    order = [h.path for h in receiver.hits]
    # With one slot for 127.0.0.1, the slow host's other deliveries wait for it; the
    # delivery to localhost does not, so it arrives before the slow host's second.
    assert order.index("/fine") < [i for i, p in enumerate(order) if p == "/slow"][1]
    assert await db.fetchval("select count(*) from webhook_logs where error_type = 'timeout'") == 3
