"""Listen with the API and dashboard app until SIGTERM/SIGINT; the CLI hands in the store and authenticator."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from sidecar.api.auth import Authenticator
from sidecar.api.server import build_app
from sidecar.api.store import ApiStore


async def serve(store: ApiStore, authenticator: Authenticator, public_config: dict[str, object],
                host: str, port: int, note: Callable[[str], None]) -> int:
    """Serve until stopped, then close the store."""
    runner = web.AppRunner(build_app(store, authenticator, public_config), access_log=None,
                           handle_signals=False, shutdown_timeout=5.0)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        note(f"API and dashboard on http://{host}:{bound}/ over {store.transport}"
             f" (OpenAPI: /api/v1/openapi.json)")
        await _until_stopped()
    finally:
        await runner.cleanup()
        await store.close()
    note("serve stopped")
    return 0


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
