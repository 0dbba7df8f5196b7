"""The benchmark suite of the webhook sidecar, in one command.

    .venv/bin/python bench/run.py [--quick] [--only NAME[,NAME…]]

Starts a throwaway PostgreSQL cluster (migrated template, one fresh clone per
scenario), nginx on 127.0.0.1 and, where needed, the delaying receiver; measures
each figure of the suite against its target; writes the "Suite" section of
bench/RESULTS.md (other sections are kept) and bench/plot.png. Two end-to-end
throughputs are reported: (2), a tuned path (per-host cap 50, ~700-byte bodies,
timed from first claim to last completion), and (U), the user path
(bench/scenarios/userpath.py: defaults but WEBHOOK_CONCURRENCY=50, ~1 KB leads in
one statement, timed from process spawn to exit), each with its own baselines. Everything listens
on 127.0.0.1 only and stops by itself. A full run takes about 5 minutes on 2
cores, --quick under 3 (fewer requests, 1 million log rows instead of 10, 200,000
due deliveries instead of 1,000,000).

Throughput figures are ratios against baselines measured in the same run, since
the machine may be shared: the bare client's ceiling and the PGQueuer peer run
interleaved with the sidecar, and the medians of the rounds are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shlex
import signal
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from receiver import Nginx, SlowReceiver  # noqa: E402
from scenarios import data, dbcosts, endtoend, holds, report, userpath  # noqa: E402
from scenarios.common import (  # noqa: E402
    Bench,
    BenchError,
    bench_cluster,
    clone,
    create_clone,
    drop_clone,
    machine,
    run_json,
    script,
    server_version,
)

from sidecar.delivery.payload import compact_jsonb_text  # noqa: E402

SCENARIOS = ("throughput", "userpath", "sweep", "processes", "slow", "latency", "claim", "stats", "enqueue", "rpc")
HEADLINE_CONCURRENCY = 50
SLOW_CONCURRENCY = 200
SLOW_DELAY_MS = 100.0


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the full suite or --quick."""

    deliveries: int
    rounds: int
    sweep: tuple[int, ...]
    peer_batches: tuple[int, ...]
    slow_deliveries: int
    latency_leads: int
    claim_depths: tuple[int, int]
    log_rows: int

    @classmethod
    def for_run(cls, quick: bool) -> Plan:
        if quick:
            return cls(5_000, 1, (10, 200), (25, 100), 4_000, 100, (1_000, 200_000), 1_000_000)
        return cls(20_000, 3, (10, 100, 200), (10, 25, 50, 100, 200), 20_000, 400,
                   (1_000, 1_000_000), 10_000_000)


@dataclass
class Context:
    bench: Bench
    plan: Plan
    nginx: Nginx
    body_file: Path
    user_body_file: Path
    out: report.Report
    series: dict[str, dict[int, float]] = field(default_factory=dict)
    headline: dict[str, float] = field(default_factory=dict)
    peer_batch: int = 100


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def fmt(rate: float) -> str:
    return f"{rate:,.0f}/s"


# -- baselines ---------------------------------------------------------------------


def ceiling(ctx: Context, url: str, requests: int, concurrency: int, body_file: Path | None = None) -> float:
    rows = run_json(script("scenarios/ceiling.py") + [
        "--url", url, "--body-file", str(body_file or ctx.body_file), "--requests", str(requests),
        "--concurrency", str(concurrency)], timeout_s=180)
    if rows[0]["failed"]:
        raise BenchError(f"ceiling: {rows[0]['failed']:.0f} requests failed")
    return float(rows[0]["rate"])


def peer(ctx: Context, concurrency: int, batches: tuple[int, ...], body_file: Path | None = None) -> dict[int, float]:
    """PGQueuer's rate per batch size, in a fresh clone of the same database."""
    dsn = asyncio.run(create_clone(ctx.bench, "peer"))
    try:
        rows = run_json(script("peer_pgqueuer.py") + [
            "--dsn", dsn, "--url", ctx.nginx.url, "--body-file", str(body_file or ctx.body_file),
            "--jobs", str(ctx.plan.deliveries), "--concurrency", str(concurrency),
            "--batch-sizes", ",".join(map(str, batches))], timeout_s=120 + 60 * len(batches))
    finally:
        asyncio.run(drop_clone(ctx.bench, dsn))
    for row in rows:
        if row["completed"] < ctx.plan.deliveries:
            raise BenchError(f"peer batch {row['batch_size']:.0f}: only {row['completed']:.0f} jobs done")
    return {int(row["batch_size"]): float(row["rate"]) for row in rows}


def sidecar(ctx: Context, url: str, deliveries: int, concurrency: int,
            processes: int = 1, extra_env: dict[str, str] | None = None) -> endtoend.Throughput:
    result = asyncio.run(endtoend.throughput(ctx.bench, url, deliveries, concurrency, processes,
                                             extra_env=extra_env))
    if result.completed != deliveries or result.logged != deliveries:
        raise BenchError(f"sidecar: {result.completed} completed, {result.logged} logged of {deliveries}")
    return result


def describe_rpc(result: endtoend.Throughput) -> str:
    """Calls, mean batch and server µs per delivery of claim and record in one sidecar run."""
    parts = []
    for name, short in (("claim_webhook_jobs", "claim"), ("record_webhook_attempts", "record")):
        rpc = result.rpc.get(name)
        if rpc is None or not rpc.calls:
            parts.append(f"{short}: not counted")
            continue
        parts.append(f"{short} {rpc.calls:,} calls, {result.completed / rpc.calls:.1f} per call, "
                     f"{rpc.total_ms * 1000 / max(result.completed, 1):.0f} µs/delivery")
    return "; ".join(parts)


# -- scenarios ---------------------------------------------------------------------


def run_throughput(ctx: Context) -> None:
    """(1), (2), (9): interleaved rounds of ceiling, sidecar and peer at the headline concurrency."""
    n, c = ctx.plan.deliveries, HEADLINE_CONCURRENCY
    peer_by_batch = peer(ctx, c, ctx.plan.peer_batches)
    ctx.peer_batch = max(peer_by_batch, key=peer_by_batch.__getitem__)
    ceilings, sidecars, launches, peers = [], [], [], [peer_by_batch[ctx.peer_batch]]
    verbose: list[float] = []
    calls: list[str] = []
    for round_number in range(ctx.plan.rounds):
        ceilings.append(ceiling(ctx, ctx.nginx.url, n, c))
        result = sidecar(ctx, ctx.nginx.url, n, c)
        sidecars.append(result.rate)
        launches.append(result.rate_from_launch)
        calls.append(describe_rpc(result))
        verbose.append(sidecar(ctx, ctx.nginx.url, n, c, extra_env={"WEBHOOK_LOG_LEVEL": "debug"}).rate)
        if round_number:
            peers.append(peer(ctx, c, (ctx.peer_batch,))[ctx.peer_batch])
    top, mine, theirs = (statistics.median(x) for x in (ceilings, sidecars, peers))
    ctx.headline.update(ceiling=top, sidecar=mine, peer=theirs)
    for name, value in (("bare aiohttp (ceiling)", top), ("sidecar", mine), ("PGQueuer peer", theirs)):
        ctx.series.setdefault(name, {})[c] = value
    ctx.out.figure("1", f"ceiling: bare aiohttp+uvloop, c={c}, {n:,} POSTs", fmt(top), "baseline", None)
    ctx.out.figure("2", f"end to end through the sidecar, c={c}, {n:,} deliveries", fmt(mine), "≥ 3,500/s",
                   mine >= 3500)
    ctx.out.figure("2", "… ratio to (1)", f"{ratio(mine, top):.2f}", "≥ 0.4", ratio(mine, top) >= 0.4)
    ctx.out.figure("2", "… ratio to (9)", f"{ratio(mine, theirs):.2f}", "≥ 1.0", ratio(mine, theirs) >= 1.0)
    ctx.out.figure("9", f"peer: PGQueuer {pgqueuer_version()} asyncpg+aiohttp, batch {ctx.peer_batch}, c={c}",
                   fmt(theirs), "baseline", None)
    ctx.out.section("Throughput (1), (2), (9)", "\n".join([
        f"{ctx.plan.rounds} interleaved rounds of {n:,} POSTs each, medians reported; every round's figures:",
        "",
        f"- ceiling (bare aiohttp+uvloop): {', '.join(fmt(x) for x in ceilings)}",
        f"- sidecar, first claim to last completion: {', '.join(fmt(x) for x in sidecars)}",
        f"- sidecar, process launch to last completion: {', '.join(fmt(x) for x in launches)}",
        f"- sidecar with WEBHOOK_LOG_LEVEL=debug (a log line per successful attempt too): "
        f"{', '.join(fmt(x) for x in verbose)} (median {fmt(statistics.median(verbose))})",
        f"- PGQueuer: {', '.join(fmt(x) for x in peers)}",
        "- PGQueuer by batch size (round 1): "
        + ", ".join(f"{b}: {fmt(r)}" for b, r in sorted(peer_by_batch.items())),
        "",
        "The sidecar's RPC calls per round (pg_stat_user_functions; server time per delivery):",
        "",
        *(f"- round {i + 1}: {text}" for i, text in enumerate(calls)),
        "",
        f"Body: {ctx.body_file.stat().st_size} bytes, the payload the enqueue trigger builds for a lead. "
        "Receiver: nginx, 1 worker, `return 200`. The sidecar runs `webhook-sidecar run --once` with "
        f"WEBHOOK_CONCURRENCY={c}, WEBHOOK_PER_HOST_CONCURRENCY={c} (one receiver host), other settings "
        "default (log level info: a line per failed attempt and a summary a minute); it signs every "
        "request and writes a full log row per attempt. PGQueuer keeps no request "
        f"or response log; it runs `max_concurrent_tasks=max({c}, 2×batch)` with an aiohttp connector "
        f"limited to {c}.",
    ]))


def run_userpath(ctx: Context) -> None:
    """The user path (bench/scenarios/userpath.py) beside its two baselines, in interleaved rounds."""
    n, c = ctx.plan.deliveries, userpath.USER_CONCURRENCY
    ceilings: list[float] = []
    runs: list[userpath.UserRun] = []
    peers: list[dict[int, float]] = []
    for _ in range(ctx.plan.rounds):
        ceilings.append(ceiling(ctx, ctx.nginx.url, n, c, ctx.user_body_file))
        runs.append(asyncio.run(userpath.user_run(ctx.bench, ctx.nginx.url, n, receiver_pid=ctx.nginx.pid)))
        peers.append(peer(ctx, c, ctx.plan.peer_batches, ctx.user_body_file))
    best = [max(by_batch.values()) for by_batch in peers]
    top, mine, theirs = (statistics.median(x) for x in (ceilings, [r.rate for r in runs], best))
    size = ctx.user_body_file.stat().st_size
    ctx.out.figure("U", f"user path: bare aiohttp+uvloop, c={c}, {n:,} POSTs of {size:,} bytes", fmt(top),
                   "baseline", None)
    ctx.out.figure("U", f"user path: `webhook-sidecar run --once`, defaults but WEBHOOK_CONCURRENCY={c}, "
                   "process spawn → exit", fmt(mine), "n/a", None)
    ctx.out.figure("U", "… ratio to the bare client", f"{ratio(mine, top):.2f}", "≥ 0.5", ratio(mine, top) >= 0.5)
    ctx.out.figure("U", "… ratio to PGQueuer at its best batch size", f"{ratio(mine, theirs):.2f}", "≥ 1.5",
                   ratio(mine, theirs) >= 1.5)
    ctx.out.figure("U", "user path: PGQueuer at its best batch size each round", fmt(theirs), "baseline", None)
    ctx.out.section("User path (U)", "\n".join(user_path_lines(ctx, ceilings, runs, peers)))


def user_path_lines(ctx: Context, ceilings: list[float], runs: list[userpath.UserRun],
                    peers: list[dict[int, float]]) -> list[str]:
    n = ctx.plan.deliveries
    phases = userpath.median_phases(runs)
    cpu = userpath.median_cpu_us(runs)
    return [
        f"What a user gets: `webhook-sidecar run --once` spawned as a process with DATABASE_URL, "
        f"WEBHOOK_CONCURRENCY={userpath.USER_CONCURRENCY} (so WEBHOOK_PER_HOST_CONCURRENCY stays at its default "
        "20 for the one receiver host) and WEBHOOK_ALLOW_PRIVATE_TARGETS=true (the receiver is on 127.0.0.1), "
        f"after {n:,} leads of ~1 KB `data` were inserted in ONE statement (the enqueue trigger builds the "
        f"deliveries; no VACUUM), timed from process spawn to exit. It signs every request and writes a full "
        f"log row per attempt. The bare client POSTs the same {ctx.user_body_file.stat().st_size:,}-byte body "
        "to the same nginx at the same concurrency; PGQueuer runs every batch size each round and its best "
        f"counts. {len(runs)} interleaved rounds (bare client, sidecar, PGQueuer), medians; (2) above is the "
        "tuned path (per-host cap 50, ~700-byte bodies, 5,000 leads per statement then VACUUM, timed from "
        "first claim to last completion).",
        "",
        "| round | bare client | sidecar, spawn → exit | first claim → last completion | PGQueuer best (batch) "
        "| ratio to bare | ratio to PGQueuer |",
        "|---|---|---|---|---|---|---|",
        *(f"| {i + 1} | {fmt(top)} | {fmt(r.rate)} | {fmt(r.rate_claim_to_completion)} | "
          f"{fmt(max(p.values()))} ({max(p, key=p.__getitem__)}) | {ratio(r.rate, top):.2f} | "
          f"{ratio(r.rate, max(p.values())):.2f} |" for i, (top, r, p) in enumerate(zip(ceilings, runs, peers))),
        "",
        "PGQueuer by batch size, each round: " + "; ".join(
            ", ".join(f"{b}: {fmt(rate)}" for b, rate in sorted(p.items())) for p in peers),
        "",
        "Where the wall time went (medians): " + ", ".join(f"{k} {v * 1000:,.0f} ms" for k, v in phases.items())
        + ".",
        "",
        "CPU per delivery (medians): " + ", ".join(f"{k} {v:.0f} µs" for k, v in cpu.items()) + ". WAL: "
        f"{userpath.median_of([r.wal_bytes / r.completed for r in runs]):,.0f} bytes per delivery.",
        "",
        "Database functions (pg_stat_user_functions, track_functions = all; server time, so it grows when the "
        "two cores are contended; triggers count inside the function whose statement fired them):",
        "",
        *userpath.function_table(runs),
        "",
        "The breakdown of these costs is `bench/userpath_breakdown.py` (its own section below).",
    ]


def run_sweep(ctx: Context) -> None:
    """The plot's other points: ceiling, sidecar and peer at more concurrencies."""
    n = ctx.plan.deliveries
    for c in ctx.plan.sweep:
        ctx.series.setdefault("bare aiohttp (ceiling)", {})[c] = ceiling(ctx, ctx.nginx.url, n, c)
        ctx.series.setdefault("sidecar", {})[c] = sidecar(ctx, ctx.nginx.url, n, c).rate
        ctx.series.setdefault("PGQueuer peer", {})[c] = peer(ctx, c, (ctx.peer_batch,))[ctx.peer_batch]
    rows = ["| concurrency | " + " | ".join(ctx.series) + " |", "|---" * (len(ctx.series) + 1) + "|"]
    for c in sorted({c for s in ctx.series.values() for c in s}):
        rows.append(f"| {c} | " + " | ".join(fmt(s[c]) if c in s else "" for s in ctx.series.values()) + " |")
    ctx.out.section("Deliveries/s against concurrency (plot.png)", "\n".join(
        rows + ["", f"One run of {n:,} per cell (the c={HEADLINE_CONCURRENCY} cells are the medians above)."]))


def run_processes(ctx: Context) -> None:
    """(8): two sidecar processes on the same queue."""
    n, c = ctx.plan.deliveries, HEADLINE_CONCURRENCY
    two = sidecar(ctx, ctx.nginx.url, n, c, processes=2)
    ctx.series["sidecar, 2 processes"] = {c: two.rate}
    one = ctx.headline.get("sidecar", 0.0)
    ctx.out.figure("8", f"2 sidecar processes, c={c} each, {n:,} deliveries", fmt(two.rate),
                   f"> (2) = {fmt(one)}", two.rate > one if one else None)


def run_slow(ctx: Context) -> None:
    """(3): a receiver answering after 100 ms, at concurrency 200, against Little's law."""
    bound = SLOW_CONCURRENCY / (SLOW_DELAY_MS / 1000)
    n = ctx.plan.slow_deliveries
    with SlowReceiver(delay_ms=SLOW_DELAY_MS) as slow:
        own = ceiling(ctx, slow.url, min(n, 8_000), SLOW_CONCURRENCY)
        result = sidecar(ctx, slow.url, n, SLOW_CONCURRENCY)
    with SlowReceiver(delay_ms=0) as fast:
        raw = ceiling(ctx, fast.url, 20_000, SLOW_CONCURRENCY)
    ctx.out.figure("3", f"100 ms receiver, c={SLOW_CONCURRENCY}, {n:,} deliveries: ratio to {bound:,.0f}/s",
                   f"{ratio(result.rate, bound):.2f} ({fmt(result.rate)})", "≥ 0.8",
                   ratio(result.rate, bound) >= 0.8)
    ctx.out.section("100 ms receiver (3)", "\n".join([
        "The delaying receiver is `bench/receiver.py slow`: a raw asyncio Protocol server on uvloop in its "
        "own process that answers 200 after the delay. Its own ceiling, measured with the bare client:",
        "",
        f"- with no delay, c={SLOW_CONCURRENCY}: {fmt(raw)} (far above the {bound:,.0f}/s bound)",
        f"- with {SLOW_DELAY_MS:.0f} ms, c={SLOW_CONCURRENCY}: {fmt(own)} = {ratio(own, bound):.2f} of the bound",
        f"- the sidecar, same receiver and concurrency: {fmt(result.rate)} = {ratio(result.rate, bound):.2f} "
        f"of the bound ({ratio(result.rate, own):.2f} of the bare client)",
    ]))


def run_latency(ctx: Context) -> None:
    """(4): enqueue-to-first-attempt latency at light load."""
    leads = ctx.plan.latency_leads
    record = ctx.bench.scratch / "arrivals.json"
    slow = SlowReceiver(delay_ms=0, record=record).start()
    try:
        result = asyncio.run(endtoend.latency(ctx.bench, slow.url, _stopping(slow), leads, per_second=20.0))
    finally:
        slow.stop()
    p50, p99 = (endtoend.Latency.percentile(result.arrival_ms, q) for q in (0.5, 0.99))
    d50, d99 = (endtoend.Latency.percentile(result.first_log_ms, q) for q in (0.5, 0.99))
    ctx.out.figure("4", f"lead insert → request at receiver, {leads} leads at 20/s: p50", f"{p50:.1f} ms",
                   "≤ 10 ms", p50 <= 10)
    ctx.out.figure("4", "… p99", f"{p99:.1f} ms", "≤ 100 ms", p99 <= 100)
    ctx.out.section("Latency at light load (4)", "\n".join([
        f"{leads} leads inserted one per statement at 20/s while one `webhook-sidecar run` (LISTEN) is running. "
        "Latency is the receiver's arrival time of the request carrying the lead's X-Lead-ID minus the time "
        "just before the insert was sent (same host clock). For comparison, the database's view: the first "
        "log row's created_at (written after the attempt, when its result is recorded) minus the delivery's "
        f"created_at: p50 {d50:.1f} ms, p99 {d99:.1f} ms.",
    ]))


def _stopping(receiver: SlowReceiver) -> Callable[[], dict[str, float]]:
    def arrivals() -> dict[str, float]:
        receiver.stop()  # the receiver writes what it saw when it stops
        return receiver.arrivals()
    return arrivals


def run_claim(ctx: Context) -> None:
    """(5): claim_webhook_jobs(…, 50, 60) with few and with many due deliveries."""
    small, large = (asyncio.run(dbcosts.claim_cost(ctx.bench, depth)) for depth in ctx.plan.claim_depths)
    held = asyncio.run(holds.claim_with_holds(ctx.bench, large.due))
    growth = ratio(large.timing.median_ms, small.timing.median_ms)
    ctx.out.figure("5", f"claim 50: {large.due:,} due vs {small.due:,} due",
                   f"{large.timing.median_ms:.2f} ms vs {small.timing.median_ms:.2f} ms (×{growth:.2f})",
                   "≤ ×2", growth <= 2)
    ctx.out.section("Claim cost (5)", "\n".join([
        "Queue rows written directly (generate_series, all due, one rule), VACUUM ANALYZE, then "
        "`claim_webhook_jobs('bench-claim', 50, 60)` 50 times, each in a transaction rolled back; "
        "round trip on 127.0.0.1 included.",
        "",
        f"- {small.due:,} due: median {small.timing.median_ms:.2f} ms, p95 {small.timing.p95_ms:.2f} ms",
        f"- {large.due:,} due: median {large.timing.median_ms:.2f} ms, p95 {large.timing.p95_ms:.2f} ms",
        f"- {held.due:,} pending, half held by 3 paused rules and older than every due row: "
        f"median {held.timing.median_ms:.2f} ms, p95 {held.timing.p95_ms:.2f} ms "
        "(the claim index leaves held rows out; bench/scenarios/holds.py)",
        "",
        f"Executed plans at {large.due:,} due (auto_explain, nested statements):",
        "", "```", large.plan, "```",
    ]))


def run_stats(ctx: Context) -> None:
    """(6): get_webhook_stats over 30 days with millions of log rows in the table."""
    result = asyncio.run(dbcosts.stats_cost(ctx.bench, ctx.plan.log_rows))
    ctx.out.figure("6", f"get_webhook_stats(rule, 30) with {result.log_rows:,} log rows",
                   f"{result.timing.median_ms:.2f} ms", "≤ 10 ms", result.timing.median_ms <= 10)
    ctx.out.section("Stats cost (6)", "\n".join([
        f"{result.log_rows:,} log rows appended in time order over 60 days, spread over 100 rules of one "
        f"funnel; the measured rule has {result.rule_rows_in_window:,} attempts in its 30-day window. "
        f"First call {result.first_call_ms:.1f} ms; then 30 calls: median {result.timing.median_ms:.2f} ms, "
        f"p95 {result.timing.p95_ms:.2f} ms.",
        "", "```", result.plan, "```", "",
        "What-if on the same clone (not the migrations): with a covering index "
        "`(routing_rule_id, created_at) include (status, duration_ms)` and the table vacuumed, "
        f"the same call takes median {result.covering.median_ms:.2f} ms, "
        f"p95 {result.covering.p95_ms:.2f} ms (index-only scan)." if result.covering else "",
    ]))


def run_enqueue(ctx: Context) -> None:
    """(7): cost per delivery of the enqueue trigger on a bulk lead insert."""
    result = asyncio.run(dbcosts.enqueue_cost(ctx.bench))
    ctx.out.figure("7", f"bulk insert of {result.leads:,} leads × {result.rules} rules, per delivery",
                   f"{result.us_per_delivery:.1f} µs", "≤ 50 µs", result.us_per_delivery <= 50)
    ctx.out.section("Enqueue cost (7)", "\n".join([
        f"One `insert into leads … select generate_series` of {result.leads:,} leads into a funnel with "
        f"{result.rules} catch-all rules ({result.deliveries:,} deliveries), committed; median of "
        f"{len(result.seconds)}: {statistics.median(result.seconds) * 1000:.0f} ms for the statement, "
        f"{result.us_per_delivery:.1f} µs per delivery. The same insert with the enqueue trigger disabled: "
        f"{statistics.median(result.seconds_without_trigger) * 1000:.0f} ms, so the trigger itself costs "
        f"{result.marginal_us_per_delivery:.1f} µs per delivery.",
    ]))


def run_rpc(ctx: Context) -> None:
    """Diagnostic: database cost per delivery of claim + record by batch size, and record's plan."""
    costs = [asyncio.run(dbcosts.rpc_cost(ctx.bench, size)) for size in (1, 10, 25, 50, 100)]
    # Alternated with the baseline so a busy moment on a shared machine hits both alike.
    pairs = [(asyncio.run(dbcosts.rpc_cost(ctx.bench, 50)),
              asyncio.run(dbcosts.rpc_cost(ctx.bench, 50, without_fks=True))) for _ in range(3)]
    base_us = statistics.median(p[0].total_us for p in pairs)
    lean_us = statistics.median(p[1].total_us for p in pairs)
    lean_record = statistics.median(p[1].record_us for p in pairs)
    base_record = statistics.median(p[0].record_us for p in pairs)
    plan = asyncio.run(dbcosts.record_plan(ctx.bench))
    rows = ["| batch | claim µs/delivery | record µs/delivery | total |", "|---|---|---|---|"]
    rows += [f"| {c.batch} | {c.claim_us:.0f} | {c.record_us:.0f} | {c.total_us:.0f} |" for c in costs]
    ctx.out.section("Diagnostics: database cost per delivery by batch size", "\n".join(rows + [
        "",
        "Claim n then record n successes, committed, one connection, medians of 20 rounds. The sidecar's "
        "claims and records are as large as its free slots and its 5 ms record window allow.",
        "",
        "What-if at batch 50 with the two bookkeeping foreign keys dropped on the clone "
        "(webhook_queue.webhook_log_id → webhook_logs, webhook_logs.queue_id → webhook_queue; since "
        "20261203120000 there are none to drop, so this is a control), 3 runs "
        f"alternated with 3 of the schema as migrated, medians: record {lean_record:.0f} vs {base_record:.0f}, "
        f"claim + record {lean_us:.0f} vs {base_us:.0f} µs/delivery.",
        "", "One `record_webhook_attempts` of 50 successes, executed plan with constraint triggers "
        "(auto_explain instrumentation inflates the times; the shares are the point):",
        "", "```", plan, "```",
    ]))


RUNNERS: dict[str, Callable[[Context], None]] = {
    "throughput": run_throughput, "userpath": run_userpath, "sweep": run_sweep, "processes": run_processes, "slow": run_slow,
    "latency": run_latency, "claim": run_claim, "stats": run_stats, "enqueue": run_enqueue, "rpc": run_rpc,
}


def pgqueuer_version() -> str:
    from importlib.metadata import version

    return version("pgqueuer")


async def sample_body(bench: Bench, insert_sql: str = data.INSERT_LEADS) -> bytes:
    """The exact body the sidecar sends for one of the benchmark's leads."""
    async with clone(bench, "body") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
        return compact_jsonb_text(await data.sample_payload(conn, tenant, insert_sql))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--results", type=Path, help="default bench/RESULTS.md; a run with --only "
                        "writes only where this says, so a partial run never replaces the full results")
    parser.add_argument("--plot", type=Path, help="default bench/plot.png, under the same rule")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if set(args.only) == set(SCENARIOS):
        args.results = args.results or BENCH_DIR / "RESULTS.md"
        args.plot = args.plot or BENCH_DIR / "plot.png"
    return args


def command_line(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "bench/run.py"] + (["--quick"] if args.quick else [])
    if list(args.only) != list(SCENARIOS):
        parts += ["--only", ",".join(args.only)]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the cluster, nginx and children are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = Plan.for_run(args.quick)
    started = time.monotonic()
    failures = 0
    with bench_cluster(args.quick) as bench, Nginx(workers=1) as nginx:
        facts = machine() | {"PostgreSQL": asyncio.run(server_version(bench.dsn("postgres")))}
        out = report.Report(command_line(args), facts, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
        body_file = bench.scratch / "body.json"
        body_file.write_bytes(asyncio.run(sample_body(bench)))
        user_body_file = bench.scratch / "user-body.json"
        user_body_file.write_bytes(asyncio.run(sample_body(bench, data.INSERT_KB_LEADS)))
        ctx = Context(bench, plan, nginx, body_file, user_body_file, out)
        for name in SCENARIOS:
            if name not in args.only:
                continue
            print(f"[{time.monotonic() - started:6.0f} s] {name} …", flush=True)
            try:
                RUNNERS[name](ctx)
            except Exception as exc:  # noqa: BLE001 - one failed scenario must not lose the others
                failures += 1
                traceback.print_exc()
                out.section(f"{name}: not measured", f"`{type(exc).__name__}: {exc}`")
        elapsed = time.monotonic() - started
        out.section("Run", f"Wall time of the whole suite: {elapsed / 60:.1f} min.")
    if args.results:
        report.write_results(args.results, out.markdown())
    if args.plot and ctx.series:
        report.plot(args.plot, ctx.series, f"Deliveries/s vs concurrency, nginx on 127.0.0.1, "
                                           f"{plan.deliveries:,} per point ({facts['nproc']} cores)")
    print(out.markdown())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
