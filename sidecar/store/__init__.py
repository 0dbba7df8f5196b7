"""The RPC store: every call the sidecar makes to the database, behind one small interface.

Two transports implement `Store`: `direct.DirectStore` (asyncpg, LISTEN/NOTIFY wake-ups)
and `postgrest.PostgrestStore` (the supabase client's `rpc()`). Each translates its
driver's errors in one place into this tree, so callers never see a driver exception:

    StoreError                    anything the store could not do
    ├── TransientStoreError       worth retrying as is: connection refused or lost, server
    │                             shutting down or starting, too many connections,
    │                             serialization failure or deadlock, PostgREST 5xx,
    │                             HTTP connect/read errors and timeouts
    └── RejectedError             the database refused the call: bad arguments, a
        │                         constraint, "not found", missing privilege
        └── MissingFunctionError  an RPC does not exist: migrations not applied

`is_transient` is the predicate `retry.db_retrying` uses; `with_retries` wraps one call.

Consumers depend on the narrowest port that serves them: the recorder on `RecordSink`,
the worker on `WorkerStore`, the CLI on `Store` (tests/unit/test_port_conformance.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from uuid import UUID

from sidecar.domain import AttemptResult, Job
from sidecar.errors import SidecarError
from sidecar.masking import masked_url
from sidecar.retry import db_retrying

T = TypeVar("T")
Row = dict[str, Any]


class StoreError(SidecarError):
    """The store could not complete a call; the message says what and, where known, why."""


class TransientStoreError(StoreError):
    """The database was unreachable or momentarily refused work; the same call may succeed later."""


class RejectedError(StoreError):
    """The database refused the call itself; retrying it unchanged will fail the same way."""


class MissingFunctionError(RejectedError):
    """An RPC the sidecar needs is absent: run `webhook-sidecar db migrate` (or `supabase db push`)."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TransientStoreError)


async def with_retries(call: Callable[[], Awaitable[T]], give_up_after_s: float | None = 15.0) -> T:
    """Run `call`, retrying transient store errors with backoff (retry.db_retrying)."""
    async for attempt in db_retrying(is_transient, give_up_after_s=give_up_after_s):
        with attempt:
            return await call()
    raise AssertionError("unreachable: db_retrying reraises")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class RecordedAttempt:
    """One row of `record_webhook_attempts`: `applied` is false for a late result.

    `log_id` is None when nothing was written: the delivery no longer exists.
    `status` is the log status the database wrote (None when nothing was written, or
    from a database older than 20261202160000_record_applies_decision.sql).
    """

    queue_id: UUID
    log_id: UUID | None
    applied: bool
    status: str | None = None


class RecordSink(Protocol):
    """What the recorder (sidecar/worker/recorder.py) needs: record_webhook_attempts."""

    async def record(self, results: Sequence[AttemptResult]) -> list[RecordedAttempt]: ...


class WorkerStore(RecordSink, Protocol):
    """What the worker (sidecar/worker/loop.py) needs: its claim, lease and hand-back RPCs."""

    async def claim(
        self, worker_id: str, max_jobs: int, lease_seconds: int, queue_ids: Sequence[UUID] | None = None
    ) -> list[Job]:
        """Due deliveries under a lease; with `queue_ids`, only those of them."""

    async def release(self, ids: Sequence[UUID]) -> int: ...

    async def defer(self, worker_id: str, ids: Sequence[UUID], delay_ms: int) -> int:
        """Return the worker's unstarted deliveries to pending, due `delay_ms` from now."""

    async def extend_leases(self, worker_id: str, ids: Sequence[UUID], lease_seconds: int) -> list[UUID]:
        """Lengthen the worker's leases to `lease_seconds` from now; the ids it still held."""

    async def listen(self, wake: Callable[[], None]) -> None:
        """Have `wake` called when new work is announced; called before each wait, cheap once listening.

        A listener opened (or reopened after it was lost) calls `wake` once, as what was
        announced while nobody listened is gone. Without announcements (PostgREST) it does
        nothing and the worker polls.
        """


class Store(WorkerStore, Protocol):
    """Every RPC of docs/internal-rpc.md and the reads the CLI needs: the worker's and the rest.

    The API server has its own port, sidecar/api/store.py `ApiStore`.
    """

    transport: str

    async def requeue_stale(self) -> int: ...

    async def enqueue(self, lead_id: UUID, routing_rule_id: UUID, priority: int = 0) -> UUID: ...

    async def replay(self, log_id: UUID) -> UUID: ...

    async def stats(self, routing_rule_id: UUID, days: int = 7) -> Row: ...

    async def logs(
        self,
        routing_rule_id: UUID | None = None,
        status: str | None = None,
        queue_id: UUID | None = None,
        limit: int = 50,
    ) -> list[Row]: ...

    async def queue_summary(self) -> list[Row]: ...

    async def delivery(self, queue_id: UUID) -> Row | None: ...

    async def get_config(self, routing_rule_id: UUID) -> Row: ...

    async def update_config(self, routing_rule_id: UUID, patch: Mapping[str, Any]) -> Row: ...

    async def recover(self, routing_rule_id: UUID, since: datetime, until: datetime | None = None) -> int: ...

    async def cancel(self, routing_rule_id: UUID) -> int: ...

    async def send_test(self, routing_rule_id: UUID) -> UUID: ...

    async def held_summary(self) -> list[Row]:
        """Per rule that is paused or has held deliveries: reason and held count."""

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# -- shapes shared by both transports -------------------------------------------------


def job_from_row(row: Mapping[str, Any]) -> Job:
    """Validate one `claim_webhook_jobs` row (asyncpg Record or PostgREST JSON) into a Job."""
    headers = row["custom_headers"]
    if isinstance(headers, str):
        headers = json.loads(headers)
    return Job(
        queue_id=_uuid(row["queue_id"]),
        webhook_id=_uuid(row["webhook_id"]),
        lead_id=_uuid(row["lead_id"]),
        routing_rule_id=_uuid(row["routing_rule_id"]),
        attempt_number=int(row["attempt_number"]),
        max_attempts=int(row["max_attempts"]),
        payload=str(row["payload"]),
        webhook_url=str(row["webhook_url"]),
        custom_headers={str(k): str(v) for k, v in (headers or {}).items()},
        timeout_ms=int(row["timeout_ms"]),
        retry_enabled=bool(row["retry_enabled"]),
        retry_delay_ms=int(row["retry_delay_ms"]),
        retry_backoff_multiplier=float(row["retry_backoff_multiplier"]),
        signing_secret=str(row["signing_secret"]),
        claimed_at=_unix_time(row.get("claimed_at")),
        received_at=time.monotonic(),
        previous_signing_secret=_optional_text(row.get("previous_signing_secret")),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _unix_time(value: Any) -> float | None:
    """A timestamptz as asyncpg (datetime) or PostgREST (ISO 8601 text) gives it."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.timestamp()


def recorded_from_row(row: Mapping[str, Any]) -> RecordedAttempt:
    log_id, status = row["log_id"], row.get("status")
    return RecordedAttempt(_uuid(row["queue_id"]), None if log_id is None else _uuid(log_id), bool(row["applied"]),
                           None if status is None else str(status))


def result_element(result: AttemptResult) -> dict[str, Any]:
    """One element of `record_webhook_attempts(results)`, safe for jsonb and for the log.

    jsonb refuses the NUL character, which a receiver can send in a body or header,
    so it is replaced like any other undecodable byte; the URL is masked (sidecar/masking.py).
    """
    element = raw_result_element(result)
    element["request_headers"] = _clean_map(element["request_headers"])
    element["response_headers"] = _clean_map(element["response_headers"])
    element["response_body"] = _clean(element["response_body"])
    element["error_message"] = _clean(element["error_message"])
    return element


def raw_result_element(result: AttemptResult) -> dict[str, Any]:
    """result_element without the NUL replacement: the same element when no text holds a NUL.

    For callers that encode the batch and look for an escaped NUL in the encoding (its
    only way in), falling back to result_element then, rather than scanning every string.
    """
    outcome = result.outcome
    success = outcome.success
    element = {
        "queue_id": str(result.job.queue_id),
        "worker_id": result.worker_id,
        "attempt_number": result.job.attempt_number,
        "webhook_url": masked_url(result.job.webhook_url),
        "request_headers": outcome.request_headers,
        "response_status": outcome.status,
        "response_headers": outcome.response_headers,
        "response_body": outcome.response_body,
        "duration_ms": outcome.duration_ms,
        "success": success,
        "error_type": None if success else outcome.error_type,
        "error_message": None if success else outcome.error_message,
        "retry_in_ms": result.retry_in_ms,
        "status": result.status,
    }
    if result.log_id is not None:
        element["log_id"] = str(result.log_id)
        if result.first_send:
            element["first_send"] = True
    return element


def results_json(results: Sequence[AttemptResult]) -> str:
    return json.dumps([result_element(r) for r in results], ensure_ascii=False)


def plain(value: Any) -> Any:
    """A JSON-friendly copy of a row value: uuids, decimals and times as people read them."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return json_time(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def json_time(moment: datetime) -> str:
    """A time written as Postgres writes a timestamptz in JSON (no trailing zeros in the fraction).

    Rows reach readers both as asyncpg values and as jsonb the database rendered; one
    instant must read the same either way (`2026-12-03T10:01:02.12345+00:00`).
    """
    text = moment.isoformat()
    if not moment.microsecond:
        return text
    head, _, rest = text.partition(".")
    return f"{head}.{rest[:6].rstrip('0')}{rest[6:]}"


def plain_row(row: Mapping[str, Any]) -> Row:
    return {str(k): plain(v) for k, v in row.items()}


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _clean(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\ufffd")


def _clean_map(values: Mapping[str, str]) -> dict[str, str]:
    # One scan of the joined text decides for the common case: no NUL anywhere.
    if "\x00" not in "".join(values) and "\x00" not in "".join(values.values()):
        return dict(values)
    return {str(_clean(k)): str(_clean(v)) for k, v in values.items()}
