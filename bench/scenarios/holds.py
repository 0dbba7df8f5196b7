"""Costs of held deliveries and of the outcome trigger (supabase/migrations/20261202110000_endpoint_breaks.sql).

- claim_with_holds: claim 50 from a queue of `due` pending rows of which a share belongs
  to paused rules (held, and older than every due row: the worst place for them).
- outcome_trigger_cost: record_webhook_attempts per result with the statement-level
  webhook_queue_outcomes trigger on and off, for successes and for final failures
  (which write a delivery.failed event and count towards auto-pause).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import dataclass

import asyncpg

from . import data
from .common import Bench, clone
from .dbcosts import CLAIM_SQL, RECORD_SQL, ClaimCost, Timing, _plan_lines, _plans_rolled_back, _rolled_back

# Rows of rule $1 written directly (triggers off), `held` as given, scheduled from $6 on.
INSERT_QUEUE = """
insert into public.webhook_queue
  (webhook_id, lead_id, routing_rule_id, status, priority, attempt_number, max_attempts,
   scheduled_at, payload, created_at, held)
select gen_random_uuid(), ($2::uuid[])[1 + (i % cardinality($2::uuid[]))], $1, 'pending', 0, 1, 4,
       $6::timestamptz + i * interval '1 millisecond', $3::jsonb, now() - interval '2 hours', $7
from generate_series($4::int, $5::int) as g(i)
"""
DISABLE_OUTCOMES = "alter table public.webhook_queue disable trigger webhook_queue_outcomes"
ENABLE_OUTCOMES = "alter table public.webhook_queue enable trigger webhook_queue_outcomes"


async def _fill(conn: asyncpg.Connection, rule: uuid.UUID, leads: list[uuid.UUID], payload: str,
                rows: int, held: bool, first_at: str, chunk: int = 250_000) -> None:
    for start in range(1, rows + 1, chunk):
        end = min(rows, start + chunk - 1)
        async with conn.transaction():
            await conn.execute("set local session_replication_role = replica")
            await conn.execute(INSERT_QUEUE, rule, leads, payload, start, end,
                               await conn.fetchval(f"select {first_at}"), held)


async def claim_with_holds(bench: Bench, due: int, held_share: float = 0.5, reps: int = 50,
                           batch: int = 50) -> ClaimCost:
    """Claim `batch` from `due` pending rows, `held_share` of them held by 3 paused rules."""
    async with clone(bench, "holds") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook", rules=4)
        leads = await data.insert_leads_untriggered(conn, tenant.funnel_id, 1000)
        payload = await data.sample_payload(conn, tenant)
        for rule in tenant.rule_ids[1:]:
            await conn.execute("select public.update_webhook_config($1, '{\"paused\": true}')", rule)
        await conn.execute("select public.update_webhook_config($1, '{}')", tenant.rule_ids[0])
        held = int(due * held_share)
        per_rule = held // 3
        for rule in tenant.rule_ids[1:]:
            await _fill(conn, rule, leads, payload, per_rule, True, "now() - interval '2 hours'")
        await _fill(conn, tenant.rule_ids[0], leads, payload, due - 3 * per_rule, False, "now() - interval '1 hour'")
        await conn.execute("vacuum analyze public.webhook_queue")
        for _ in range(5):
            await _rolled_back(conn, CLAIM_SQL, "bench-claim", batch, 60)
        runs = [await _rolled_back(conn, CLAIM_SQL, "bench-claim", batch, 60) for _ in range(reps)]
        found = await _plans_rolled_back(conn, CLAIM_SQL, "bench-claim", batch, 60)
    return ClaimCost(due, Timing([ms for ms, _ in runs]), runs[-1][1], _plan_lines(found, "not q.held"))


@dataclass(frozen=True)
class TriggerCost:
    """Median microseconds per recorded result, with and without webhook_queue_outcomes."""

    batch: int
    success_on_us: float
    success_off_us: float
    failed_on_us: float
    failed_off_us: float


def _results(rows: list[asyncpg.Record], worker: str, success: bool) -> str:
    return json.dumps([
        {"queue_id": str(r["queue_id"]), "worker_id": worker, "attempt_number": r["attempt_number"],
         "webhook_url": r["webhook_url"], "request_headers": {"Content-Type": "application/json"},
         "response_status": 200 if success else 500, "response_headers": {}, "response_body": "x",
         "duration_ms": 3, "success": success, "error_type": None if success else "http_error",
         "error_message": None if success else "HTTP 500: Internal Server Error", "retry_in_ms": None,
         "log_id": str(uuid.uuid4()), "first_send": True}
        for r in rows
    ])


async def _record_us(conn: asyncpg.Connection, batch: int, reps: int, success: bool) -> float:
    samples: list[float] = []
    for n in range(reps + 5):
        rows = await conn.fetch(CLAIM_SQL, "bench-rec", batch, 60)
        payload = _results(rows, "bench-rec", success)
        started = time.perf_counter()
        await conn.fetch(RECORD_SQL, payload)
        if n >= 5:
            samples.append((time.perf_counter() - started) * 1e6 / batch)
    return statistics.median(samples)


async def outcome_trigger_cost(bench: Bench, batch: int = 50, reps: int = 20) -> TriggerCost:
    async with clone(bench, "outcomes") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
        await conn.execute("select public.update_webhook_config($1, '{\"max_retries\": 0}')", tenant.rule_ids[0])
        await data.insert_leads(conn, tenant.funnel_id, batch * (reps + 5) * 4 + 1000)
        await conn.execute("vacuum analyze public.webhook_queue")
        figures = []
        for success in (True, False):
            figures.append(await _record_us(conn, batch, reps, success))
            await conn.execute(DISABLE_OUTCOMES)
            figures.append(await _record_us(conn, batch, reps, success))
            await conn.execute(ENABLE_OUTCOMES)
    return TriggerCost(batch, *figures)
