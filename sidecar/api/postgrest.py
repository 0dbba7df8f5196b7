"""The API over Supabase: each call is `POST /rest/v1/rpc/<name>` with the caller's credentials.

A JWT is forwarded as `Authorization: Bearer <token>` (PostgREST verifies it and
runs the call as authenticated with its claims); an API key travels in `x-api-key`
with the anon key as the bearer, as the api_* functions expect. `apikey` is always
the anon key. PostgREST's error answers keep their status; their message is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from sidecar import jsondepth
from sidecar.api.auth import Caller
from sidecar.api.errors import ApiError
from sidecar.api.store import MISSING, RPCS, config_field

TIMEOUT_S = 30.0


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class PostgrestApiStore:
    transport = "supabase"

    def __init__(self, supabase_url: str, anon_key: str, client: httpx.AsyncClient | None = None) -> None:
        self._base = supabase_url.rstrip("/") + "/rest/v1/rpc/"
        self._anon_key = anon_key
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT_S)

    def headers(self, caller: Caller) -> dict[str, str]:
        headers = {"apikey": self._anon_key, "Content-Type": "application/json", "Accept": "application/json"}
        if caller.is_key:
            headers["Authorization"] = f"Bearer {self._anon_key}"
            headers["x-api-key"] = caller.token
        else:
            headers["Authorization"] = f"Bearer {caller.token}"
        return headers

    async def call(self, caller: Caller, name: str, args: Mapping[str, Any]) -> Any:
        body = {p: _jsonable(args.get(p)) for p in RPCS[name].params}
        try:
            response = await self._client.post(self._base + name, json=body, headers=self.headers(caller))
        except httpx.HTTPError as exc:
            raise ApiError(503, f"Supabase is unreachable ({type(exc).__name__}); try again shortly") from exc
        if response.is_success:
            return jsondepth.loads(response.content) if response.content else None
        raise _refusal(response)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        await self._client.aclose()


def _refusal(response: httpx.Response) -> ApiError:
    try:
        body = jsondepth.loads(response.content)
        message = str(body.get("message") or response.reason_phrase)
        code = str(body.get("code") or "")
    except (ValueError, AttributeError):
        message, code = response.reason_phrase or "error", ""
    status = response.status_code
    if code in ("PGRST202", "42883", "42P01") or (status == 404 and code.startswith("PGRST2")):
        return ApiError(501, MISSING)
    if status >= 500:
        return ApiError(502, f"Supabase answered {status}: {message}")
    headers = {"Retry-After": response.headers["Retry-After"]} if "Retry-After" in response.headers else {}
    if status == 401:
        message = f"not signed in: {message}"
    return ApiError(status, message, field=config_field(message) if status == 400 else None,
                    headers=headers)

