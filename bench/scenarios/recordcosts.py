"""What-if clones for the user path's claim and record: what each part of them costs.

Each variant is a fresh clone changed in one way (DDL on that clone only, never the
migrations), filled like the user path (~1 KB leads, one statement, the enqueue trigger
building the deliveries), then VACUUM ANALYZE and autovacuum off on the two queue
tables, so every variant starts alike. One connection then does what the worker
does: claim `claim_batch` at a time and record the claimed rows as successes in calls of
`record_batch`, each result shaped like the sidecar's (headers and body copied from a real
user-path log row). Measured per delivery: the server CPU of claim and of record (the
backend's time on a CPU from /proc/<pid>/schedstat around each call, so waiting for a
core on a shared machine does not count; the median over the calls), and WAL written
over the loop without full-page images (pg_walinspect; which pages get one depends on when the last
checkpoint was, and the harness holds checkpoints off while it runs). Variants run interleaved in rounds, each round in
another order (rotated), with the schema as migrated run three times a round (first,
middle, last); each variant is reported as the difference of its median over the rounds
from the median of every run of the schema as migrated.

The executed plan of one record call with auto_explain's trigger timing gives each
foreign key's constraint trigger (instrumented, so inflated; the shares are the point).
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from . import data, plans
from .common import Bench, clone
from .userpath import wal_by_record

CLAIM_SQL = "select * from public.claim_webhook_jobs($1, $2, $3)"
RECORD_SQL = "select * from public.record_webhook_attempts($1::jsonb)"
WAL_LSN_SQL = "select pg_current_wal_insert_lsn()::text"
CHECKPOINTS_HELD_OFF = "alter system set checkpoint_timeout = '1h'"
CHECKPOINTS_AS_BEFORE = "alter system reset checkpoint_timeout"
WORKER = "bench-whatif"
WARM_UP_CALLS = 3
# webhook_logs.queue_id and webhook_queue.webhook_log_id have no foreign key since 20261203120000.
LOG_FKS = ("webhook_logs_lead_id_fkey", "webhook_logs_routing_rule_id_fkey", "webhook_logs_parent_log_id_fkey")
STORED_BODY = "coalesce(o.request_headers, '{}'::jsonb), o.q_payload,"
NO_BODY = "coalesce(o.request_headers, '{}'::jsonb), null::jsonb,"

Result = dict[str, Any]


def _keep(result: Result) -> Result:
    return result


def _empty_request_headers(result: Result) -> Result:
    return {**result, "request_headers": {}}


def _no_response_headers(result: Result) -> Result:
    return {**result, "response_headers": None}


def _narrow(result: Result) -> Result:
    return {**result, "request_headers": {}, "response_headers": None}


@dataclass(frozen=True)
class WhatIf:
    name: str
    ddl: tuple[str, ...] = ()
    shape: Callable[[Result], Result] = _keep  # how each recorded result differs from the sidecar's
    body_dropped: bool = False  # record_webhook_attempts rewritten on the clone to store no request_body
    note: str = ""
    after_fill: tuple[str, ...] = ()  # run after the leads are in, before VACUUM


def _drop_index(name: str, note: str = "") -> WhatIf:
    return WhatIf(f"index {name} dropped", (f"drop index public.{name}",), note=note)


VARIANTS: tuple[WhatIf, ...] = (
    WhatIf("as migrated"),
    WhatIf("webhook_logs' 3 foreign keys dropped",
           tuple(f"alter table public.webhook_logs drop constraint {fk}" for fk in LOG_FKS)),
    _drop_index("webhook_logs_created_at_idx"),
    _drop_index("webhook_logs_lead_id_idx"),
    _drop_index("webhook_logs_queue_id_idx"),
    _drop_index("webhook_logs_routing_rule_id_created_at_id_idx"),
    _drop_index("webhook_logs_parent_log_id_idx", "partial (parent_log_id not null): no entry on a first attempt"),
    _drop_index("webhook_queue_lead_id_idx"),
    _drop_index("webhook_queue_routing_rule_id_idx"),
    _drop_index("webhook_queue_webhook_log_id_idx"),
    _drop_index("webhook_queue_finished_idx"),
    _drop_index("webhook_queue_lease_idx", "the claim's expired-lease pass then has no index: its plan changes"),
    _drop_index("webhook_queue_held_idx", "partial (pending and held): no entry on this path, a control"),
    WhatIf("stats rollup trigger dropped", ("drop trigger webhook_stats_add_inserted on public.webhook_logs",)),
    WhatIf("outcome/events trigger dropped", ("drop trigger webhook_queue_outcomes on public.webhook_queue",),
           note="a control since 20261203120000: its WHEN clause skips record's rows"),
    WhatIf("request_body not stored", body_dropped=True),
    WhatIf("request_headers stored as {}", shape=_empty_request_headers),
    WhatIf("response_headers not stored", shape=_no_response_headers),
    WhatIf("log row without request_body and both header maps", shape=_narrow, body_dropped=True),
    WhatIf("request_body compressed with pglz (as before 20261203120000)",
           ("alter table public.webhook_logs alter column request_body set compression pglz",),
           note="a ~2.1 KB log row is over the TOAST threshold: pglz saves too little, so request_body then "
                "goes to the TOAST table"),
    WhatIf("queue payload emptied ('{}') after enqueue", after_fill=("update public.webhook_queue set payload = '{}'",),
           note="the claim and record then copy no payload, and request_body is '{}' too: compare with the "
                "request_body row for the queue's own share"),
)


@dataclass(frozen=True)
class Template:
    """One real log row's request and response parts, which every recorded result copies."""

    request_headers: dict[str, str]
    response_headers: dict[str, str] | None
    response_body: str | None
    duration_ms: int

    @classmethod
    def from_log(cls, row: dict[str, object]) -> Template:
        response = row.get("response_headers")
        return cls(json.loads(str(row["request_headers"])), json.loads(str(response)) if response else None,
                   None if row.get("response_body") is None else str(row["response_body"]),
                   int(str(row.get("duration_ms") or 1)))


@dataclass
class Measured:
    """One variant in one round, per delivery."""

    claim_us: float
    record_us: float
    wal_bytes: float


@dataclass
class Tally:
    variant: WhatIf
    rounds: list[Measured] = field(default_factory=list)


def _results(rows: list[asyncpg.Record], template: Template, shape: Callable[[Result], Result]) -> str:
    out = []
    for r in rows:
        headers = {**template.request_headers, "X-Lead-ID": str(r["lead_id"]), "webhook-id": str(r["webhook_id"])}
        out.append(shape({
            "queue_id": str(r["queue_id"]), "worker_id": WORKER, "attempt_number": r["attempt_number"],
            "webhook_url": r["webhook_url"], "request_headers": headers, "response_status": 200,
            "response_headers": template.response_headers, "response_body": template.response_body,
            "duration_ms": template.duration_ms, "success": True, "error_type": None, "error_message": None,
            "retry_in_ms": None, "status": "success", "log_id": str(uuid.uuid4()), "first_send": True,
        }))
    return json.dumps(out)


async def _apply(conn: asyncpg.Connection, variant: WhatIf) -> None:
    for statement in variant.ddl:
        await conn.execute(statement)
    if variant.body_dropped:
        definition = await conn.fetchval(
            "select pg_get_functiondef('public.record_webhook_attempts(jsonb)'::regprocedure)")
        if STORED_BODY not in definition:
            raise AssertionError("record_webhook_attempts no longer stores request_body as expected")
        await conn.execute(definition.replace(STORED_BODY, NO_BODY))


async def _fill(conn: asyncpg.Connection, deliveries: int, after_fill: tuple[str, ...] = ()) -> None:
    tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
    await data.insert_leads(conn, tenant.funnel_id, deliveries, data.INSERT_KB_LEADS)
    for statement in after_fill:
        await conn.execute(statement)
    for table in ("webhook_queue", "webhook_logs"):
        await conn.execute(f"alter table public.{table} set (autovacuum_enabled = false)")
    await conn.execute("vacuum analyze public.webhook_queue, public.webhook_logs")
    await conn.execute("create extension if not exists pg_walinspect")


def _on_cpu_s(pid: int) -> float:
    """Seconds `pid` has spent on a CPU (schedstat's first field, in ns)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


async def _timed(conn: asyncpg.Connection, sql: str, arg: object, *more: object) -> tuple[float, list[asyncpg.Record]]:
    """The backend's CPU seconds for one call, and its rows."""
    pid = conn.get_server_pid()
    started = _on_cpu_s(pid)
    rows = await conn.fetch(sql, arg, *more)
    return _on_cpu_s(pid) - started, rows


async def drain(conn: asyncpg.Connection, template: Template, shape: Callable[[Result], Result],
                claim_batch: int, record_batch: int) -> Measured:
    """Claim and record until nothing is due; µs per delivery of each call (median) and WAL."""
    claims: list[float] = []
    records: list[float] = []
    held: list[asyncpg.Record] = []
    start = await conn.fetchval(WAL_LSN_SQL)
    done = 0
    while True:
        seconds, rows = await _timed(conn, CLAIM_SQL, WORKER, claim_batch, 60)
        if rows:
            claims.append(seconds / len(rows))
        held += rows
        while len(held) >= record_batch or (held and not rows):
            batch, held = held[:record_batch], held[record_batch:]
            seconds, _ = await _timed(conn, RECORD_SQL, _results(batch, template, shape))
            records.append(seconds / len(batch))
            done += len(batch)
        if not rows:
            break
    wal = await wal_by_record(conn, start, await conn.fetchval(WAL_LSN_SQL))
    written = sum(part.bytes - part.fpi_bytes for part in wal.values())
    return Measured(statistics.median(claims[WARM_UP_CALLS:] or claims) * 1e6,
                    statistics.median(records[WARM_UP_CALLS:] or records) * 1e6, written / max(done, 1))


async def measure(bench: Bench, variant: WhatIf, template: Template, deliveries: int,
                  claim_batch: int, record_batch: int) -> Measured:
    async with clone(bench, "whatif") as conn:
        await _apply(conn, variant)
        await _fill(conn, deliveries, variant.after_fill)
        return await drain(conn, template, variant.shape, claim_batch, record_batch)


async def trigger_times(bench: Bench, template: Template, record_batch: int, deliveries: int = 2_000) -> list[str]:
    """One record call's triggers (auto_explain, log_triggers), by µs per delivery; markdown rows."""
    async with clone(bench, "whatif_plan") as conn:
        await _fill(conn, deliveries)
        for _ in range(5):  # past the plan cache's first executions, like a running worker
            rows = await conn.fetch(CLAIM_SQL, WORKER, record_batch, 60)
            await conn.fetch(RECORD_SQL, _results(rows, template, _keep))
        rows = await conn.fetch(CLAIM_SQL, WORKER, record_batch, 60)
        found = await plans.nested_plans(conn, RECORD_SQL, _results(rows, template, _keep))
    totals: dict[str, list[float]] = {}
    for plan in found:
        for trigger in plan.get("Triggers", []):
            name = trigger.get("Constraint Name") or trigger["Trigger Name"]
            calls_ms = totals.setdefault(name, [0.0, 0.0])
            calls_ms[0] += float(trigger["Calls"])
            calls_ms[1] += float(trigger["Time"])
    out = ["| trigger | calls | µs per delivery (instrumented) |", "|---|---|---|"]
    for name, (calls, ms) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        out.append(f"| {name} | {calls:.0f} | {ms * 1000 / len(rows):.1f} |")
    statement = next((p for p in found if "with input as" in plans.query_text(p)), None)
    if statement is not None:
        out += ["", f"The record statement itself, same instrumentation: "
                    f"{float(statement['Plan']['Actual Total Time']) * 1000 / len(rows):.1f} µs per delivery."]
    return out


def _median_diff(rounds: list[Measured], base: list[Measured], pick: Callable[[Measured], float]) -> float:
    return statistics.median(pick(m) for m in rounds) - statistics.median(pick(b) for b in base)


def deltas(tallies: list[Tally]) -> list[str]:
    """Markdown rows: each variant's median less the median of the first (as migrated)."""
    base = tallies[0].rounds
    rows = ["| variant | claim CPU µs/delivery | record CPU µs/delivery | WAL bytes/delivery (no full pages) | note |",
            "|---|---|---|---|---|"]
    first = tallies[0]
    rows.append(f"| {first.variant.name} | {statistics.median(m.claim_us for m in base):.1f} | "
                f"{statistics.median(m.record_us for m in base):.1f} | "
                f"{statistics.median(m.wal_bytes for m in base):,.0f} | absolute |")
    for tally in tallies[1:]:
        claim, record, wal = (_median_diff(tally.rounds, base, pick) for pick in
                              (lambda m: m.claim_us, lambda m: m.record_us, lambda m: m.wal_bytes))
        rows.append(f"| {tally.variant.name} | {claim:+.1f} | {record:+.1f} | {wal:+,.0f} | {tally.variant.note} |")
    return rows


async def _cluster_setting(bench: Bench, statement: str) -> None:
    conn = await asyncpg.connect(bench.dsn("postgres"))
    try:
        await conn.execute(statement)
        await conn.execute("select pg_reload_conf()")
    finally:
        await conn.close()


async def run_rounds(bench: Bench, template: Template, rounds: int, deliveries: int, claim_batch: int,
                     record_batch: int, variants: tuple[WhatIf, ...] = VARIANTS) -> list[Tally]:
    tallies = [Tally(v) for v in variants]
    base, others = tallies[0], tallies[1:]
    await _cluster_setting(bench, CHECKPOINTS_HELD_OFF)
    try:
        for number in range(rounds):
            shift = number * len(others) // max(rounds, 1)
            order = others[shift:] + others[:shift]
            middle = len(order) // 2
            for tally in [base, *order[:middle], base, *order[middle:], base]:
                tally.rounds.append(await measure(bench, tally.variant, template, deliveries, claim_batch,
                                                  record_batch))
    finally:
        await _cluster_setting(bench, CHECKPOINTS_AS_BEFORE)
    return tallies
