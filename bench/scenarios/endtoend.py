"""Deliveries through the real path: lead insert -> trigger -> `webhook-sidecar run` -> receiver.

Throughput runs insert the leads first, then start `webhook-sidecar run --once` (one
or more processes) and wait for them to exit. The rate counts completed deliveries
over the span from the first claim (min started_at) to the last completion (max
completed_at), both on the database's clock, so interpreter start-up is not
counted; the rate from process launch is reported beside it.

The latency run keeps one `webhook-sidecar run` listening, inserts leads one at a
time at a fixed rate, and reads when each lead's request reached the receiver.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from . import data
from .common import Bench, BenchError, clone

SIDECAR = str(Path(sys.executable).parent / "webhook-sidecar")
LEADS_PER_STATEMENT = 5_000

OUTCOME_SQL = """
select count(*) filter (where status = 'completed') as completed,
       count(*) filter (where status <> 'completed') as not_completed,
       extract(epoch from min(started_at)) as first_claim,
       extract(epoch from max(completed_at)) as last_completed,
       (select count(*) from public.webhook_logs) as logged
from public.webhook_queue
"""
LATENCY_FROM_DB_SQL = """
select extract(epoch from (select min(l.created_at) from public.webhook_logs l where l.queue_id = q.id)
                          - q.created_at) * 1000 as ms
from public.webhook_queue q
"""


FUNCTION_STATS_SQL = """
select funcname, calls, total_time
from pg_stat_user_functions
where schemaname = 'public' and funcname in ('claim_webhook_jobs', 'record_webhook_attempts')
"""


@dataclass(frozen=True)
class RpcCalls:
    """How often the workers called an RPC during a run, and the server time it took."""

    calls: int
    total_ms: float


@dataclass(frozen=True)
class Throughput:
    deliveries: int
    concurrency: int
    processes: int
    completed: int
    not_completed: int
    logged: int
    seconds: float
    seconds_from_launch: float
    rpc: dict[str, RpcCalls]

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def rate_from_launch(self) -> float:
        return self.completed / self.seconds_from_launch if self.seconds_from_launch > 0 else 0.0


@dataclass(frozen=True)
class Latency:
    leads: int
    per_second: float
    arrival_ms: list[float]
    first_log_ms: list[float]

    @staticmethod
    def percentile(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def sidecar_env(dsn: str, concurrency: int, batch_size: int | None = None) -> dict[str, str]:
    """Settings for a benchmark worker: one receiver host, so its cap is the global one."""
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_CONCURRENCY": str(concurrency),
        "WEBHOOK_PER_HOST_CONCURRENCY": str(concurrency),
        "WEBHOOK_LOG_FORMAT": "text",
        # One worker per spawned process: these scenarios choose the process count themselves.
        "WEBHOOK_PROCESSES": "1",
    }
    if batch_size is not None:
        env["WEBHOOK_BATCH_SIZE"] = str(batch_size)
    env.pop("SUPABASE_URL", None)
    return env


def _launch(env: dict[str, str], cwd: Path, log: Path, once: bool,
            prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
    cmd = [*(prefix or [SIDECAR]), "run", *(["--once"] if once else [])]
    with log.open("ab") as sink:
        # cwd is a scratch directory so no stray .env changes the settings.
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)


async def _insert_leads(conn: asyncpg.Connection, tenant: data.Tenant, count: int) -> None:
    for start in range(0, count, LEADS_PER_STATEMENT):
        await data.insert_leads(conn, tenant.funnel_id, min(LEADS_PER_STATEMENT, count - start))


def _wait_all(procs: list[subprocess.Popen[bytes]], budget_s: float, log: Path) -> None:
    deadline = time.monotonic() + budget_s
    for proc in procs:
        try:
            code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise BenchError(f"webhook-sidecar did not finish within {budget_s:.0f} s (log: {log})") from None
        if code != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise BenchError(f"webhook-sidecar exited {code}: {' | '.join(tail)}")


async def throughput(bench: Bench, url: str, deliveries: int, concurrency: int, processes: int = 1,
                     batch_size: int | None = None, budget_s: float = 180.0,
                     prefix: list[str] | None = None, extra_env: dict[str, str] | None = None) -> Throughput:
    """Deliver `deliveries` leads (one catch-all rule) with `processes` × `run --once`."""
    async with clone(bench, "e2e") as conn:
        tenant = await data.create_tenant(conn, url)
        await _insert_leads(conn, tenant, deliveries)
        await conn.execute("vacuum analyze public.webhook_queue")
        name = await conn.fetchval("select current_database()")
        dsn = bench.dsn(name)
        # Counts the RPC calls of the sidecar's connections (opened after this).
        await conn.execute(f"alter database {name} set track_functions = 'pl'")
        log = bench.scratch / f"sidecar-c{concurrency}-p{processes}.log"
        env = {**sidecar_env(dsn, concurrency, batch_size), **(extra_env or {})}
        launched = time.time()
        procs = [_launch(env, bench.scratch, log, once=True, prefix=prefix) for _ in range(processes)]
        await asyncio.to_thread(_wait_all, procs, budget_s, log)
        row = await conn.fetchrow(OUTCOME_SQL)
        await conn.execute("select pg_stat_clear_snapshot()")
        rpc = {r["funcname"]: RpcCalls(int(r["calls"]), float(r["total_time"]))
               for r in await conn.fetch(FUNCTION_STATS_SQL)}
    assert row is not None
    first, last = float(row["first_claim"] or 0), float(row["last_completed"] or 0)
    return Throughput(
        deliveries=deliveries, concurrency=concurrency, processes=processes,
        completed=int(row["completed"]), not_completed=int(row["not_completed"]),
        logged=int(row["logged"]), seconds=last - first, seconds_from_launch=last - launched, rpc=rpc,
    )


async def latency(bench: Bench, url: str, arrivals: Callable[[], dict[str, float]], leads: int,
                  per_second: float = 20.0, budget_s: float = 120.0) -> Latency:
    """Insert `leads` leads one per statement at `per_second` with a listening sidecar running."""
    async with clone(bench, "latency") as conn:
        tenant = await data.create_tenant(conn, url)
        dsn = bench.dsn(await conn.fetchval("select current_database()"))
        log = bench.scratch / "sidecar-latency.log"
        proc = _launch(sidecar_env(dsn, 50), bench.scratch, log, once=False)
        try:
            await _warm_up(conn, tenant, budget_s=30.0)
            inserted = await _paced_inserts(conn, tenant, leads, per_second)
            await _until_logged(conn, leads + 1, budget_s)
        finally:
            _stop(proc)
        first_logs = [float(r["ms"]) for r in await conn.fetch(LATENCY_FROM_DB_SQL) if r["ms"] is not None]
    seen = arrivals()
    arrival_ms = [(seen[lead] - at) * 1000 for lead, at in inserted.items() if lead in seen]
    if len(arrival_ms) < leads:
        raise BenchError(f"only {len(arrival_ms)} of {leads} leads reached the receiver")
    return Latency(leads, per_second, arrival_ms, first_logs)


async def _warm_up(conn: asyncpg.Connection, tenant: data.Tenant, budget_s: float) -> None:
    """One delivery end to end, so start-up (connect, LISTEN, first TLS-free dial) is not measured."""
    await data.insert_leads(conn, tenant.funnel_id, 1)
    await _until_logged(conn, 1, budget_s)


async def _paced_inserts(conn: asyncpg.Connection, tenant: data.Tenant, leads: int,
                         per_second: float) -> dict[str, float]:
    """Insert one lead per statement on a fixed schedule; lead id -> unix time before its insert."""
    inserted: dict[str, float] = {}
    started = time.monotonic()
    for n in range(leads):
        await asyncio.sleep(max(0.0, started + n / per_second - time.monotonic()))
        at = time.time()
        lead = await conn.fetchval(data.INSERT_LEADS + " returning id", tenant.funnel_id, 1)
        inserted[str(lead)] = at
    return inserted


async def _until_logged(conn: asyncpg.Connection, count: int, budget_s: float) -> None:
    deadline = time.monotonic() + budget_s
    while await conn.fetchval("select count(*) from public.webhook_logs") < count:
        if time.monotonic() > deadline:
            raise BenchError(f"fewer than {count} attempts logged after {budget_s:.0f} s")
        await asyncio.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(samples: list[float]) -> str:
    return f"median {statistics.median(samples):.1f} ms" if samples else "no samples"
