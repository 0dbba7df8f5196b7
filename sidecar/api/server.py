"""The aiohttp application of `webhook-sidecar serve`: API v1, its OpenAPI document, the dashboard.

Every error leaves as `{"error": {"status", "message"}}` (errors.ApiError); an
unexpected exception is logged here and answered with a bare 500, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from sidecar.api import openapi
from sidecar.api.auth import Authenticator
from sidecar.api.errors import ApiError
from sidecar.api.routes import AUTH, STORE, add_routes
from sidecar.api.store import ApiStore

log = logging.getLogger("sidecar.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = web.AppKey("public_config", dict)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self' {auth}; frame-ancestors 'none'; base-uri 'none'")


def dashboard_dir() -> Path:
    return Path(str(resources.files("sidecar").joinpath("dashboard")))


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ApiError as exc:
        return _error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "no such route: see /api/v1/openapi.json" if exc.status == 404 else exc.reason
        return _error(ApiError(exc.status, message))
    except Exception:  # noqa: BLE001 - the one place anything unexpected is caught
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(ApiError(500, "internal error; see the server's log"))
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _error(exc: ApiError) -> web.Response:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return web.json_response(exc.body(), status=exc.status, headers={**headers, **SECURITY_HEADERS})


def build_app(store: ApiStore, authenticator: Authenticator, public_config: dict[str, object]) -> web.Application:
    app = web.Application(middlewares=[errors], client_max_size=1 << 20)
    app[STORE] = store
    app[AUTH] = authenticator
    app[PUBLIC] = public_config
    add_routes(app)
    app.router.add_get("/api/v1/openapi.json", openapi_document)
    app.router.add_get("/api/v1/dashboard-config", dashboard_config)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", page)
    app.router.add_get("/rules/{routing_rule_id}", page)
    app.router.add_static("/assets/", dashboard_dir(), show_index=False, append_version=False)
    return app


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(openapi.document())


async def dashboard_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[PUBLIC])


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return web.Response(status=503, text=f"database unreachable: {type(exc).__name__}\n")
    return web.Response(text="ok\n")


async def page(request: web.Request) -> web.Response:
    html = (dashboard_dir() / "index.html").read_text(encoding="utf-8")
    auth = str(request.app[PUBLIC].get("supabase_url") or "")
    return web.Response(text=html, content_type="text/html", headers={
        "Content-Security-Policy": CSP.format(auth=auth).replace(" ;", ";"), "Cache-Control": "no-store"})
