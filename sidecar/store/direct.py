"""The direct transport: asyncpg against DATABASE_URL, with LISTEN webhook_jobs wake-ups.

asyncpg won the claim+record round trip against psycopg 3 (bench/RESULTS.md,
"Database driver"). Calls use a small pool; wake-ups use one dedicated connection,
re-opened after the server restarts, because a pooled connection cannot keep a LISTEN.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from sidecar import jsondepth
from sidecar.domain import AttemptResult, Job
from sidecar.store import (
    MissingFunctionError,
    RecordedAttempt,
    RejectedError,
    Row,
    StoreError,
    TransientStoreError,
    plain_row,
    raw_result_element,
    recorded_from_row,
    result_element,
)
from sidecar.store.queries import query
from sidecar.store.sqlstates import is_transient_sqlstate

CHANNEL = "webhook_jobs"
POOL_MAX = 4
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 5.0

_is_transient_state = is_transient_sqlstate  # sidecar/store/sqlstates.py, shared with the PostgREST store


def _describe(exc: asyncpg.PostgresError) -> str:
    parts = [str(exc)]
    detail = getattr(exc, "detail", None)
    hint = getattr(exc, "hint", None)
    parts += [f"({detail})"] if detail else []
    parts += [f"hint: {hint}"] if hint else []
    return " ".join(parts)


@contextmanager
def translated() -> Iterator[None]:
    """The one place asyncpg's and the socket's errors become the store's (sidecar.store)."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if _is_transient_state(exc.sqlstate):
            raise TransientStoreError(f"database unavailable: {exc}") from exc
        if exc.sqlstate == "42883":
            raise MissingFunctionError(
                f"{exc}: the webhook functions are missing; run `webhook-sidecar db migrate`"
            ) from exc
        raise RejectedError(_describe(exc)) from exc
    except (asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
        # Raised for a connection closed under us or a pool torn down by a restart.
        raise TransientStoreError(f"database connection lost: {exc}") from exc
    except (OSError, asyncio.TimeoutError) as exc:
        raise TransientStoreError(f"database unreachable: {exc}") from exc


def _jsonb_encode(value: Any) -> bytes:
    """jsonb's binary input: version byte 1, then the JSON text as UTF-8.

    orjson writes the attempt results ~15x faster than the json module; it refuses lone
    surrogates and integers over 64 bits, which the json module takes (a surrogate
    becomes "?", as jsonb cannot store it).
    """
    if type(value) is _JsonbText:
        return b"\x01" + value
    try:
        return b"\x01" + orjson.dumps(value)
    except TypeError:
        return b"\x01" + json.dumps(value, ensure_ascii=False).encode("utf-8", "replace")


class _JsonbText(bytes):
    """JSON text already encoded, passed to the jsonb codec as it is."""


def _record_argument(results: Sequence[AttemptResult]) -> _JsonbText | list[dict[str, Any]]:
    """record_webhook_attempts' argument: the raw elements encoded at once, unless the
    encoding shows an escaped NUL (jsonb refuses it); then the cleaned elements."""
    try:
        text = orjson.dumps([raw_result_element(r) for r in results])
    except TypeError:
        text = b"\\u0000"  # what orjson refuses goes the cleaned way, through the json module if need be
    if b"\\u0000" in text:
        return [result_element(r) for r in results]
    return _JsonbText(text)


def _jsonb_decode(data: bytes) -> Any:
    # The json module, not orjson: orjson reads integers over 64 bits as floats, and
    # leads' data, shown by `logs`, may hold any number.
    if data == b"\x01{}":
        return {}  # most rules have no custom headers, and every claimed job carries them
    return jsondepth.loads(data[1:].decode("utf-8"))


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """Pool release hook: pooled connections run single statements and keep no session
    state (no SET, LISTEN, cursors or advisory locks), so asyncpg's reset query, a round
    trip per claim and per record, is skipped. An open transaction is still rolled back."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("json", encoder=json.dumps, decoder=jsondepth.loads, schema="pg_catalog")
    await conn.set_type_codec("jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode,
                              schema="pg_catalog", format="binary")


def _job_from_record(row: asyncpg.Record, received_at: float) -> Job:
    """A claim row as asyncpg decodes it: uuids, ints, text and the headers dict already
    have their types (header values are strings by the configs' check constraint), so
    unlike `job_from_row` nothing is converted."""
    claimed_at = row["claimed_at"]
    return Job(
        row["queue_id"], row["webhook_id"], row["lead_id"], row["routing_rule_id"],
        row["attempt_number"], row["max_attempts"], row["payload"], row["webhook_url"],
        row["custom_headers"] or {}, row["timeout_ms"], row["retry_enabled"], row["retry_delay_ms"],
        float(row["retry_backoff_multiplier"]), row["signing_secret"],
        None if claimed_at is None else claimed_at.timestamp(), received_at,
        row["previous_signing_secret"],
    )


def _nobody() -> None:
    """The wake-up before anyone listens."""


class DirectStore:
    """Store over asyncpg. Create with `await DirectStore.connect(dsn)`."""

    transport = "direct"

    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self._dsn = dsn
        self._pool = pool
        self._wake: Callable[[], None] = _nobody
        self._listener: asyncpg.Connection | None = None

    @classmethod
    async def connect(cls, dsn: str, max_size: int = POOL_MAX) -> DirectStore:
        # No connection floor: asyncpg would rebuild it in the background while the server
        # is down, logging a traceback per try; calls reconnect on demand (with our backoff).
        with translated():
            pool = await asyncpg.create_pool(
                dsn, min_size=0, max_size=max_size, init=_init_connection, reset=_nothing_to_reset,
                timeout=CONNECT_TIMEOUT_S, command_timeout=60,
            )
        store = cls(dsn, pool)
        try:
            await store.ping()  # an empty pool has not connected yet: fail here, not later
        except BaseException:
            pool.terminate()
            raise
        return store

    # -- calls ------------------------------------------------------------------

    async def _fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        with translated():
            async with self._pool.acquire() as conn:
                rows: list[asyncpg.Record] = await conn.fetch(query(name), *args)
                return rows

    async def _fetchval(self, name: str, *args: Any) -> Any:
        rows = await self._fetch(name, *args)
        return rows[0][0] if rows else None

    async def claim(
        self, worker_id: str, max_jobs: int, lease_seconds: int, queue_ids: Sequence[UUID] | None = None
    ) -> list[Job]:
        if queue_ids is None:
            rows = await self._fetch("claim_jobs", worker_id, max_jobs, lease_seconds)
        else:
            rows = await self._fetch("claim_given_jobs", worker_id, max_jobs, lease_seconds, list(queue_ids))
        received_at = time.monotonic()
        return [_job_from_record(row, received_at) for row in rows]

    async def record(self, results: Sequence[AttemptResult]) -> list[RecordedAttempt]:
        if not results:
            return []
        rows = await self._fetch("record_attempts", _record_argument(results))
        return [recorded_from_row(row) for row in rows]

    async def release(self, ids: Sequence[UUID]) -> int:
        if not ids:
            return 0
        return int(await self._fetchval("release_jobs", list(ids)) or 0)

    async def defer(self, worker_id: str, ids: Sequence[UUID], delay_ms: int) -> int:
        if not ids:
            return 0
        return int(await self._fetchval("defer_jobs", worker_id, list(ids), delay_ms) or 0)

    async def extend_leases(self, worker_id: str, ids: Sequence[UUID], lease_seconds: int) -> list[UUID]:
        if not ids:
            return []
        return [row[0] for row in await self._fetch("extend_leases", worker_id, list(ids), lease_seconds)]

    async def requeue_stale(self) -> int:
        return int(await self._fetchval("requeue_stale") or 0)

    async def enqueue(self, lead_id: UUID, routing_rule_id: UUID, priority: int = 0) -> UUID:
        return UUID(str(await self._fetchval("enqueue", lead_id, routing_rule_id, priority)))

    async def replay(self, log_id: UUID) -> UUID:
        return UUID(str(await self._fetchval("replay", log_id)))

    async def stats(self, routing_rule_id: UUID, days: int = 7) -> Row:
        rows = await self._fetch("stats", routing_rule_id, days)
        return plain_row(rows[0]) if rows else {}

    async def logs(
        self,
        routing_rule_id: UUID | None = None,
        status: str | None = None,
        queue_id: UUID | None = None,
        limit: int = 50,
    ) -> list[Row]:
        rows = await self._fetch("logs", routing_rule_id, status, queue_id, limit)
        return [plain_row(row[0]) for row in rows]

    async def queue_summary(self) -> list[Row]:
        return [plain_row(row[0]) for row in await self._fetch("queue_summary")]

    async def delivery(self, queue_id: UUID) -> Row | None:
        rows = await self._fetch("delivery", queue_id)
        return plain_row(rows[0][0]) if rows else None

    async def get_config(self, routing_rule_id: UUID) -> Row:
        rows = await self._fetch("get_config", routing_rule_id)
        if not rows:
            raise RejectedError(f"routing rule {routing_rule_id} not found")
        return plain_row(rows[0])

    async def update_config(self, routing_rule_id: UUID, patch: Mapping[str, Any]) -> Row:
        rows = await self._fetch("update_config", routing_rule_id, dict(patch))
        return plain_row(rows[0])

    async def recover(self, routing_rule_id: UUID, since: datetime, until: datetime | None = None) -> int:
        until = until or datetime.now(timezone.utc)
        return int(await self._fetchval("recover", routing_rule_id, since, until) or 0)

    async def cancel(self, routing_rule_id: UUID) -> int:
        return int(await self._fetchval("cancel", routing_rule_id) or 0)

    async def send_test(self, routing_rule_id: UUID) -> UUID:
        return UUID(str(await self._fetchval("send_test", routing_rule_id)))

    async def held_summary(self) -> list[Row]:
        return [plain_row(row) for row in await self._fetch("held_summary")]

    async def ping(self) -> None:
        await self._fetch("ping")

    # -- wake-ups ---------------------------------------------------------------

    async def listen(self, wake: Callable[[], None]) -> None:
        """Keep one LISTEN connection calling `wake`; a failure only leaves the caller on its poll timer."""
        self._wake = wake
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            with translated():
                conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_S)
                await conn.add_listener(CHANNEL, self._notified)
        except StoreError:
            self._listener = None
            return
        conn.add_termination_listener(self._listener_lost)
        self._listener = conn
        # Notifications sent while nobody listened are gone: look for work once now.
        wake()

    def _notified(self, *_: object) -> None:
        self._wake()

    def _listener_lost(self, *_: object) -> None:
        self._listener = None

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close(timeout=5)
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT_S)
        except asyncio.TimeoutError:
            self._pool.terminate()  # a connection stuck on a dead server must not hold up exit
