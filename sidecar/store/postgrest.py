"""The Supabase transport: `rpc()` of the supabase client, i.e. POST /rest/v1/rpc/<name>.

Each call is one PostgREST request with a JSON object of named arguments, the
service key as `apikey` and as `Authorization: Bearer`. PostgREST has no LISTEN, so
`listen` does nothing and the worker polls.

PostgREST's answer to an error is a JSON body with code, message, details and
hint; the supabase client raises it as `postgrest.APIError` without the HTTP
status, so a response hook notes 5xx answers first: those (and connection errors)
are transient, the rest are refusals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import httpx
from postgrest.exceptions import APIError

from sidecar.domain import AttemptResult, Job
from sidecar.errors import SidecarError
from sidecar.store import (
    MissingFunctionError,
    RecordedAttempt,
    RejectedError,
    Row,
    TransientStoreError,
    job_from_row,
    plain_row,
    recorded_from_row,
    result_element,
)
from sidecar.store.sqlstates import is_transient_sqlstate
from supabase import AsyncClient, AsyncClientOptions, acreate_client

REQUEST_TIMEOUT_S = 30.0
# PostgREST codes for "could not reach or use the database" (its 503/504 answers).
_TRANSIENT_PGRST = frozenset({"PGRST000", "PGRST001", "PGRST002", "PGRST003"})
_MISSING_FUNCTION = frozenset({"PGRST202", "42883"})


class ServerFailure(SidecarError):
    """A 5xx answer, raised by the response hook so its status is not lost."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"PostgREST answered {status}: {_error_text(body)}")


def _error_text(body: str) -> str:
    try:
        error = json.loads(body)
    except ValueError:
        return body[:200] or "(no body)"
    if not isinstance(error, dict):
        return body[:200]
    return " ".join(str(error[k]) for k in ("code", "message", "details", "hint") if error.get(k))


async def _raise_for_server_failure(response: httpx.Response) -> None:
    if response.status_code >= 500:
        await response.aread()
        raise ServerFailure(response.status_code, response.text)


def _api_error_text(exc: APIError) -> str:
    parts = [exc.message or "PostgREST refused the call"]
    parts += [f"({exc.details})"] if exc.details else []
    parts += [f"hint: {exc.hint}"] if exc.hint else []
    return " ".join(str(p) for p in parts)


def _is_transient_code(code: str | None) -> bool:
    code = code or ""
    return code in _TRANSIENT_PGRST or is_transient_sqlstate(code)


@contextmanager
def translated() -> Iterator[None]:
    """The one place PostgREST's and httpx's errors become the store's (sidecar.store)."""
    try:
        yield
    except ServerFailure as exc:
        raise TransientStoreError(str(exc)) from exc
    except APIError as exc:
        if _is_transient_code(exc.code):
            raise TransientStoreError(f"database unavailable: {_api_error_text(exc)}") from exc
        if exc.code in _MISSING_FUNCTION:
            raise MissingFunctionError(
                f"{_api_error_text(exc)}: the webhook functions are missing; "
                "apply the migrations (`supabase db push`)"
            ) from exc
        raise RejectedError(f"{exc.code}: {_api_error_text(exc)}") from exc
    except httpx.TransportError as exc:
        raise TransientStoreError(f"Supabase unreachable: {exc!r}") from exc


def _first(data: Any) -> Any:
    """A scalar or single-row RPC answer, whether PostgREST sent it bare or in an array."""
    if isinstance(data, list):
        return data[0] if data else None
    return data


def _rows(data: Any) -> list[Mapping[str, Any]]:
    if data is None:
        return []
    return data if isinstance(data, list) else [data]


class PostgrestStore:
    """Store over Supabase's REST API. Create with `await PostgrestStore.connect(url, key)`."""

    transport = "supabase"

    def __init__(self, client: AsyncClient, http: httpx.AsyncClient) -> None:
        self._client = client
        self._http = http

    @classmethod
    async def connect(cls, url: str, service_key: str) -> PostgrestStore:
        http = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S,
            event_hooks={"response": [_raise_for_server_failure]},
        )
        options = AsyncClientOptions(
            httpx_client=http, auto_refresh_token=False, persist_session=False
        )
        client = await acreate_client(url, service_key, options=options)
        return cls(client, http)

    async def _rpc(self, name: str, params: Mapping[str, Any]) -> Any:
        with translated():
            response = await self._client.rpc(name, dict(params)).execute()
        return response.data

    # -- internal RPCs ----------------------------------------------------------

    async def claim(
        self, worker_id: str, max_jobs: int, lease_seconds: int, queue_ids: Sequence[UUID] | None = None
    ) -> list[Job]:
        params: dict[str, Any] = {"worker_id": worker_id, "max_jobs": max_jobs, "lease_seconds": lease_seconds}
        if queue_ids is not None:
            params["queue_ids"] = [str(i) for i in queue_ids]
        return [job_from_row(row) for row in _rows(await self._rpc("claim_webhook_jobs", params))]

    async def record(self, results: Sequence[AttemptResult]) -> list[RecordedAttempt]:
        if not results:
            return []
        params = {"results": [result_element(r) for r in results]}
        data = await self._rpc("record_webhook_attempts", params)
        return [recorded_from_row(row) for row in _rows(data)]

    async def release(self, ids: Sequence[UUID]) -> int:
        if not ids:
            return 0
        data = await self._rpc("release_webhook_jobs", {"ids": [str(i) for i in ids]})
        return int(_first(data) or 0)

    async def defer(self, worker_id: str, ids: Sequence[UUID], delay_ms: int) -> int:
        if not ids:
            return 0
        params = {"worker_id": worker_id, "ids": [str(i) for i in ids], "delay_ms": delay_ms}
        return int(_first(await self._rpc("defer_webhook_jobs", params)) or 0)

    async def extend_leases(self, worker_id: str, ids: Sequence[UUID], lease_seconds: int) -> list[UUID]:
        if not ids:
            return []
        params = {"worker_id": worker_id, "ids": [str(i) for i in ids], "lease_seconds": lease_seconds}
        rows = _rows(await self._rpc("extend_webhook_leases", params))
        return [UUID(str(row["queue_id"])) for row in rows]

    async def requeue_stale(self) -> int:
        return int(_first(await self._rpc("requeue_stale_webhook_jobs", {})) or 0)

    async def listen(self, wake: Callable[[], None]) -> None:
        return None

    # -- the CLI's calls --------------------------------------------------------

    async def enqueue(self, lead_id: UUID, routing_rule_id: UUID, priority: int = 0) -> UUID:
        params = {"lead_id": str(lead_id), "routing_rule_id": str(routing_rule_id), "priority": priority}
        return UUID(str(_first(await self._rpc("enqueue_webhook", params))))

    async def replay(self, log_id: UUID) -> UUID:
        return UUID(str(_first(await self._rpc("replay_webhook", {"log_id": str(log_id)}))))

    async def stats(self, routing_rule_id: UUID, days: int = 7) -> Row:
        params = {"routing_rule_id": str(routing_rule_id), "days": days}
        row = _first(await self._rpc("get_webhook_stats", params))
        return plain_row(row) if row else {}

    async def logs(
        self,
        routing_rule_id: UUID | None = None,
        status: str | None = None,
        queue_id: UUID | None = None,
        limit: int = 50,
    ) -> list[Row]:
        params = {
            "routing_rule_id": None if routing_rule_id is None else str(routing_rule_id),
            "status": status,
            "queue_id": None if queue_id is None else str(queue_id),
            "max_rows": limit,
        }
        return [plain_row(r) for r in _rows(await self._rpc("webhook_log_search", params))]

    async def queue_summary(self) -> list[Row]:
        return [plain_row(r) for r in _rows(await self._rpc("webhook_queue_summary", {}))]

    async def delivery(self, queue_id: UUID) -> Row | None:
        row = _first(await self._rpc("webhook_delivery", {"queue_id": str(queue_id)}))
        return plain_row(row) if row else None

    async def get_config(self, routing_rule_id: UUID) -> Row:
        params = {"routing_rule_id": str(routing_rule_id)}
        row = _first(await self._rpc("webhook_effective_config", params))
        if not row:
            raise RejectedError(f"routing rule {routing_rule_id} not found")
        return plain_row(row)

    async def update_config(self, routing_rule_id: UUID, patch: Mapping[str, Any]) -> Row:
        params = {"routing_rule_id": str(routing_rule_id), "patch": dict(patch)}
        return plain_row(_first(await self._rpc("update_webhook_config", params)))

    async def recover(self, routing_rule_id: UUID, since: datetime, until: datetime | None = None) -> int:
        params = {"routing_rule_id": str(routing_rule_id), "since": since.isoformat(),
                  "until": (until or datetime.now(timezone.utc)).isoformat()}
        return int(_first(await self._rpc("recover_webhook_deliveries", params)) or 0)

    async def cancel(self, routing_rule_id: UUID) -> int:
        params = {"routing_rule_id": str(routing_rule_id)}
        return int(_first(await self._rpc("cancel_webhook_deliveries", params)) or 0)

    async def send_test(self, routing_rule_id: UUID) -> UUID:
        params = {"routing_rule_id": str(routing_rule_id)}
        return UUID(str(_first(await self._rpc("send_test_webhook", params))))

    async def held_summary(self) -> list[Row]:
        return [plain_row(r) for r in _rows(await self._rpc("webhook_held_summary", {}))]

    async def ping(self) -> None:
        await self.queue_summary()

    async def close(self) -> None:
        await self._http.aclose()
