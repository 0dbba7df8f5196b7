"""`webhook-sidecar serve`: open the API store for the transport, listen, stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiohttp import web

from sidecar.api.auth import Authenticator
from sidecar.api.direct import DirectApiStore
from sidecar.api.server import build_app
from sidecar.api.store import ApiStore
from sidecar.settings import Settings


async def open_api_store(settings: Settings, dsn: str | None) -> ApiStore:
    """Direct or embedded: a pool on `dsn`; Supabase (no dsn): PostgREST with the anon key."""
    if dsn is not None:
        return await DirectApiStore.connect(dsn)
    from sidecar.api.postgrest import PostgrestApiStore

    return PostgrestApiStore(settings.supabase_url or "", settings.supabase_anon_key or "")


def public_config(settings: Settings) -> dict[str, object]:
    """What the dashboard may know: enough to sign in with Supabase Auth, nothing secret."""
    enabled = bool(settings.supabase_url and settings.supabase_anon_key)
    return {"supabase_url": settings.supabase_url if enabled else None,
            "supabase_anon_key": settings.supabase_anon_key if enabled else None}


async def serve(settings: Settings, dsn: str | None, note: Callable[[str], None]) -> int:
    store = await open_api_store(settings, dsn)
    # On Supabase PostgREST checks the token; directly, the claims are set from it here.
    authenticator = Authenticator(settings.supabase_jwt_secret, settings.supabase_jwks_url,
                                  verify=store.transport != "supabase")
    runner = web.AppRunner(build_app(store, authenticator, public_config(settings)), access_log=None,
                           handle_signals=False, shutdown_timeout=5.0)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.http_port
        note(f"API and dashboard on http://{settings.http_host}:{port}/ over {store.transport}"
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
