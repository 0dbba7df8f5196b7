"""Database-side costs: claim at two queue depths, stats over many logs, bulk enqueue.

Each runs in its own fresh database, times the real SQL function from the client
(one round trip on 127.0.0.1 included), and keeps the executed plan as evidence.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from . import data, plans
from .common import Bench, clone

CLAIM_SQL = "select * from public.claim_webhook_jobs($1, $2, $3)"
STATS_SQL = "select * from public.get_webhook_stats($1, $2)"
DISABLE_ENQUEUE = "alter table public.leads disable trigger leads_enqueue_webhooks"
RESET_LEADS = "truncate public.leads, public.webhook_queue, public.webhook_logs"
COVERING_INDEX = """
create index bench_logs_rule_created_covering on public.webhook_logs (routing_rule_id, created_at)
  include (status, duration_ms)
"""


@dataclass(frozen=True)
class Timing:
    """Repeated timings of one call, in milliseconds."""

    samples_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class ClaimCost:
    due: int
    timing: Timing
    claimed: int
    plan: str = ""


@dataclass(frozen=True)
class StatsCost:
    log_rows: int
    rule_rows_in_window: int
    timing: Timing
    first_call_ms: float
    plan: str = ""
    covering: Timing | None = None


@dataclass(frozen=True)
class EnqueueCost:
    leads: int
    rules: int
    deliveries: int
    seconds: list[float] = field(default_factory=list)
    seconds_without_trigger: list[float] = field(default_factory=list)

    @property
    def us_per_delivery(self) -> float:
        return statistics.median(self.seconds) / self.deliveries * 1e6

    @property
    def marginal_us_per_delivery(self) -> float:
        extra = statistics.median(self.seconds) - statistics.median(self.seconds_without_trigger)
        return extra / self.deliveries * 1e6


async def _rolled_back(conn: asyncpg.Connection, sql: str, *args: object) -> tuple[float, int]:
    """Run `sql` in a transaction that is rolled back; (milliseconds, rows returned)."""
    tx = conn.transaction()
    await tx.start()
    try:
        started = time.perf_counter()
        rows = await conn.fetch(sql, *args)
        return (time.perf_counter() - started) * 1000, len(rows)
    finally:
        await tx.rollback()


async def _plans_rolled_back(conn: asyncpg.Connection, sql: str, *args: object) -> list[dict[str, Any]]:
    tx = conn.transaction()
    await tx.start()
    try:
        return await plans.nested_plans(conn, sql, *args)
    finally:
        await tx.rollback()


def _plan_lines(found: list[dict[str, Any]], keep: str) -> str:
    """Plans of the captured statements whose text mentions `keep`."""
    chosen = [p for p in found if keep in plans.query_text(p)]
    return "\n\n".join(f"-- {plans.query_text(p)[:160]}\n{plans.summarise(p)}" for p in chosen)


async def claim_cost(bench: Bench, due: int, reps: int = 50, batch: int = 50) -> ClaimCost:
    """Claim `batch` from `due` due deliveries `reps` times, each claim rolled back."""
    async with clone(bench, "claim") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
        await data.fill_due_queue(conn, tenant, due)
        for _ in range(5):  # warm the buffer cache and the function's cached plans
            await _rolled_back(conn, CLAIM_SQL, "bench-claim", batch, 60)
        runs = [await _rolled_back(conn, CLAIM_SQL, "bench-claim", batch, 60) for _ in range(reps)]
        found = await _plans_rolled_back(conn, CLAIM_SQL, "bench-claim", batch, 60)
    return ClaimCost(due, Timing([ms for ms, _ in runs]), runs[-1][1], _plan_lines(found, "webhook_queue"))


async def stats_cost(bench: Bench, log_rows: int, rules: int = 100, reps: int = 30) -> StatsCost:
    """get_webhook_stats(rule, 30) over `log_rows` logs spread over `rules` rules and 60 days."""
    async with clone(bench, "stats") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook", rules=rules)
        await data.fill_logs(conn, tenant, log_rows)
        rule = tenant.rule_ids[0]
        started = time.perf_counter()
        first = await conn.fetchrow(STATS_SQL, rule, 30)
        first_ms = (time.perf_counter() - started) * 1000
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            await conn.fetchrow(STATS_SQL, rule, 30)
            samples.append((time.perf_counter() - started) * 1000)
        found = await plans.nested_plans(conn, STATS_SQL, rule, 30)
        covering = await _with_covering_index(conn, rule, reps)
    in_window = int(first["total_calls"]) if first else 0
    return StatsCost(log_rows, in_window, Timing(samples), first_ms, _plan_lines(found, "webhook_logs"), covering)


async def _with_covering_index(conn: asyncpg.Connection, rule: object, reps: int) -> Timing:
    """What-if, on this clone only: the same stats call with the columns it reads in the index."""
    await conn.execute(COVERING_INDEX)
    await conn.execute("vacuum analyze public.webhook_logs")  # index-only scans need the visibility map
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        await conn.fetchrow(STATS_SQL, rule, 30)
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(samples)


async def enqueue_cost(bench: Bench, leads: int = 10_000, rules: int = 2, reps: int = 3) -> EnqueueCost:
    """Median time of one `insert into leads … select` of `leads` rows, with and without the trigger."""
    result = EnqueueCost(leads, rules, leads * rules)
    async with clone(bench, "enqueue") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook", rules=rules)
        await data.insert_leads(conn, tenant.funnel_id, 100)  # configs exist, caches warm
        for _ in range(reps):
            await conn.execute(RESET_LEADS)
            result.seconds.append(await data.insert_leads(conn, tenant.funnel_id, leads))
        count = await conn.fetchval("select count(*) from public.webhook_queue")
        if count != leads * rules:
            raise AssertionError(f"expected {leads * rules} deliveries, found {count}")
        await conn.execute(DISABLE_ENQUEUE)
        for _ in range(reps):
            await conn.execute(RESET_LEADS)
            result.seconds_without_trigger.append(await data.insert_leads(conn, tenant.funnel_id, leads))
    return result


RECORD_SQL = "select * from public.record_webhook_attempts($1::jsonb)"
PLAN_QUEUE_ROWS = 20_000


@dataclass(frozen=True)
class RpcCost:
    """Server round trips of the worker's two RPCs at one batch size, per delivery."""

    batch: int
    claim_us: float
    record_us: float

    @property
    def total_us(self) -> float:
        return self.claim_us + self.record_us


def _success_results(rows: list[asyncpg.Record], worker: str) -> str:
    """The record payload a worker sends after `rows` all answered 200, as JSON text."""
    return json.dumps([
        {"queue_id": str(r["queue_id"]), "worker_id": worker, "attempt_number": r["attempt_number"],
         "webhook_url": r["webhook_url"],
         "request_headers": {"Content-Type": "application/json", "User-Agent": "BPC-Funnels/2.0",
                             "X-Lead-ID": str(r["lead_id"]), "webhook-signature": "***"},
         "response_status": 200, "response_headers": {"content-type": "application/json"},
         "response_body": '{"ok":true}', "duration_ms": 3, "success": True,
         "error_type": None, "error_message": None, "retry_in_ms": None,
         "log_id": str(uuid.uuid4()), "first_send": True}
        for r in rows
    ])


# Since 20261203120000 these two references are kept by triggers that fire on deletes
# only, not foreign keys: the what-if is then a control (nothing to drop).
DROP_BOOKKEEPING_FKS = (
    "alter table public.webhook_queue drop constraint if exists webhook_queue_webhook_log_id_fkey",
    "alter table public.webhook_logs drop constraint if exists webhook_logs_queue_id_fkey",
)


async def rpc_cost(bench: Bench, batch: int, reps: int = 20, without_fks: bool = False) -> RpcCost:
    """Claim `batch` then record `batch` successes, `reps` times, committed like a worker does.

    `without_fks` is a what-if on the clone: the queue<->log foreign keys, which only
    record_webhook_attempts itself writes, dropped.
    """
    async with clone(bench, "rpc") as conn:
        for statement in DROP_BOOKKEEPING_FKS if without_fks else ():
            await conn.execute(statement)
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
        # A queue the size of a busy hour, so the plans are the ones a real table gets.
        await data.insert_leads(conn, tenant.funnel_id, max(PLAN_QUEUE_ROWS, batch * (reps + 5)))
        await conn.execute("vacuum analyze public.webhook_queue")
        claim_s: list[float] = []
        record_s: list[float] = []
        for n in range(reps + 5):
            started = time.perf_counter()
            rows = await conn.fetch(CLAIM_SQL, "bench-rpc", batch, 60)
            claimed = time.perf_counter()
            await conn.fetch(RECORD_SQL, _success_results(rows, "bench-rpc"))
            if n >= 5:  # the first rounds plan and cache; a running worker is past them
                claim_s.append(claimed - started)
                record_s.append(time.perf_counter() - claimed)
    per = 1e6 / batch
    return RpcCost(batch, statistics.median(claim_s) * per, statistics.median(record_s) * per)


async def record_plan(bench: Bench, batch: int = 50) -> str:
    """The executed plan of one record_webhook_attempts call of `batch` successes, triggers included.

    Timed with auto_explain's instrumentation, so its milliseconds are inflated; the
    shares between nodes and constraint triggers are what it shows.
    """
    async with clone(bench, "recplan") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
        await data.insert_leads(conn, tenant.funnel_id, max(PLAN_QUEUE_ROWS, batch * 12))
        await conn.execute("vacuum analyze public.webhook_queue")
        for _ in range(10):  # past the plan cache's first executions, like a running worker
            rows = await conn.fetch(CLAIM_SQL, "bench-rpc", batch, 60)
            await conn.fetch(RECORD_SQL, _success_results(rows, "bench-rpc"))
        rows = await conn.fetch(CLAIM_SQL, "bench-rpc", batch, 60)
        found = await plans.nested_plans(conn, RECORD_SQL, _success_results(rows, "bench-rpc"))
    return _plan_lines(found, "with input as")
