"""Fixtures of the integration tests: a scripted receiver on 127.0.0.1 and a direct store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from sidecar.store.direct import DirectStore
from tests.integration.support import Receiver, listening_socket


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application(client_max_size=1 << 24)
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    sock = listening_socket()
    await web.SockSite(runner, sock).start()
    state.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def store(db_dsn: str) -> AsyncIterator[DirectStore]:
    s = await DirectStore.connect(db_dsn)
    try:
        yield s
    finally:
        await s.close()
