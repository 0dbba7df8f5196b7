"""The user path: `webhook-sidecar run --once` as a user runs it, timed from spawn to exit.

How it differs from the tuned throughput run (bench/scenarios/endtoend.py, the suite's (2)):

- settings: the defaults except WEBHOOK_CONCURRENCY=50, so WEBHOOK_PER_HOST_CONCURRENCY
  stays at its default 20 and the one receiver host gets 20 attempts at a time (the
  tuned run sets it to 50). WEBHOOK_ALLOW_PRIVATE_TARGETS=true is the one other
  setting, since the receiver listens on 127.0.0.1;
- leads: ~1 KB of `data` each (data.LEAD_KB_DATA_SQL), all inserted in ONE statement,
  the enqueue trigger building the deliveries, and no VACUUM ANALYZE before the run
  (the tuned run inserts ~400-byte leads 5,000 per statement, then vacuums);
- time: from the spawn of the process to its exit, on the host's clock (the tuned run
  counts from the first claim to the last completion, on the database's clock).

Besides the rate, a run says where its wall time went: spawn -> the worker's start-up
line ("… delivering over …", stamped as it arrives on the pipe) -> first claim
(min(started_at), the database's now() of the claim; a delivery handed back and claimed
again gets a later one, so this is the first claim unless its whole batch was handed
back) -> last completion (max(completed_at)) -> exit. And what it cost: the sidecar's
CPU (wait4's rusage of the process), the CPU of the cluster's processes and of the
receiver (/proc: the process, its reaped children and its live ones), WAL written
(pg_current_wal_insert_lsn; by record type with pg_walinspect), and the calls and time
of every public function (track_functions = all for the sidecar's connections; trigger
functions count inside the function whose statement fired them, `self` excludes them).
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg

from . import data
from .common import Bench, BenchError, clone

SIDECAR = str(Path(sys.executable).parent / "webhook-sidecar")
USER_CONCURRENCY = 50
READY_LINE = " delivering over "
ALONE_BUDGET_S = 10.0
SETTINGS_SHOWN = ("fsync", "synchronous_commit", "full_page_writes", "wal_level", "shared_buffers",
                  "max_wal_size", "autovacuum")

OUTCOME_SQL = """
select count(*) filter (where status = 'completed') as completed,
       extract(epoch from min(started_at)) as first_claim,
       extract(epoch from max(completed_at)) as last_completed,
       (select count(*) from public.webhook_logs) as logged,
       (select extract(epoch from min(created_at)) from public.webhook_logs) as first_log
from public.webhook_queue
"""
FUNCTION_STATS_SQL = """
select funcname, calls, total_time, self_time from pg_stat_user_functions where schemaname = 'public'
"""
# Client backends of this database other than ours: the sidecar's, until they have exited
# (a backend flushes its function statistics on the way out).
OTHERS_SQL = """
select count(*) from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
"""
WAL_SQL = """
select "resource_manager/record_type" as kind, count, fpi_size, combined_size
from pg_get_wal_stats($1::text::pg_lsn, $2::text::pg_lsn, true)
where count > 0
"""
SAMPLE_LOG_SQL = """
select request_headers::text, response_headers::text, response_body, duration_ms, webhook_url
from public.webhook_logs order by created_at limit 1
"""
SIZES_SQL = """
select (select count(*) from public.webhook_logs) as log_rows,
       (select avg(pg_column_size(l.*)) from public.webhook_logs l) as log_row,
       (select avg(pg_column_size(l.request_body)) from public.webhook_logs l) as request_body,
       (select avg(pg_column_size(l.request_headers)) from public.webhook_logs l) as request_headers,
       (select avg(pg_column_size(l.response_headers)) from public.webhook_logs l) as response_headers,
       (select count(*) from public.webhook_logs l where pg_column_compression(l.request_body) is not null)
         as compressed_bodies,
       (select avg(pg_column_size(q.*)) from public.webhook_queue q) as queue_row,
       (select avg(pg_column_size(q.payload)) from public.webhook_queue q) as payload,
       pg_relation_size('public.webhook_logs') as logs_heap,
       pg_indexes_size('public.webhook_logs') as logs_indexes,
       pg_relation_size('public.webhook_queue') as queue_heap,
       pg_indexes_size('public.webhook_queue') as queue_indexes
"""


@dataclass(frozen=True)
class FunctionCost:
    """One function's calls and time (ms) over a run: total includes what it called, self does not."""

    calls: int
    total_ms: float
    self_ms: float


@dataclass(frozen=True)
class WalPart:
    records: int
    bytes: int
    fpi_bytes: int


@dataclass(frozen=True)
class Exited:
    """A child run to its end: host clock at spawn and at exit, exit code, rusage, output lines."""

    launched: float
    ended: float
    code: int
    usage: resource.struct_rusage
    lines: list[tuple[float, str]]

    def first_line_at(self, text: str) -> float | None:
        return next((at for at, line in self.lines if text in line), None)

    def tail(self, count: int = 5) -> str:
        return " | ".join(line.strip() for _, line in self.lines[-count:])


@dataclass(frozen=True)
class UserRun:
    deliveries: int
    completed: int
    logged: int
    exited: Exited
    first_claim: float
    last_completed: float
    postgres_cpu_s: float
    postgres_cpu_by_kind: dict[str, float]
    receiver_cpu_s: float | None
    wal: dict[str, WalPart]
    functions: dict[str, FunctionCost]
    settings: dict[str, str]
    sizes: dict[str, float] = field(default_factory=dict)
    sample_log: dict[str, object] = field(default_factory=dict)  # one log row's headers and body, as written

    @property
    def seconds(self) -> float:
        """Spawn to exit."""
        return self.exited.ended - self.exited.launched

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    @property
    def rate_claim_to_completion(self) -> float:
        span = self.last_completed - self.first_claim
        return self.completed / span if span > 0 else 0.0

    def phases(self) -> dict[str, float]:
        """Seconds of each stretch from spawn to exit; they add up to `seconds`."""
        launched = self.exited.launched
        ready = self.exited.first_line_at(READY_LINE) or self.first_claim
        return {
            "spawn → start-up line": ready - launched,
            "start-up line → first claim": self.first_claim - ready,
            "first claim → last completion": self.last_completed - self.first_claim,
            "last completion → exit": self.exited.ended - self.last_completed,
        }

    @property
    def sidecar_cpu_s(self) -> float:
        return self.exited.usage.ru_utime + self.exited.usage.ru_stime

    def per_delivery_us(self, seconds: float) -> float:
        return seconds / max(self.completed, 1) * 1e6

    @property
    def wal_bytes(self) -> int:
        return sum(part.bytes for part in self.wal.values())


def user_env(dsn: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a user who set DATABASE_URL and WEBHOOK_CONCURRENCY=50, nothing else."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WEBHOOK_", "SUPABASE_", "NEXT_PUBLIC_SUPABASE_")) and k != "DATABASE_URL"}
    env.update(DATABASE_URL=dsn, WEBHOOK_CONCURRENCY=str(USER_CONCURRENCY), WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    env.update(extra_env or {})
    return env


def _read_lines(stream: IO[bytes], into: list[tuple[float, str]]) -> None:
    for raw in stream:
        into.append((time.time(), raw.decode(errors="replace")))


def spawn_and_reap(cmd: list[str], env: dict[str, str], cwd: Path, budget_s: float) -> Exited:
    """Run `cmd` to its end; wait4 gives the CPU of that child alone, whatever else this process runs."""
    launched = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[tuple[float, str]] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    killer = threading.Timer(budget_s, proc.kill)
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        killer.cancel()
    ended = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    proc.stdout.close()
    return Exited(launched, ended, proc.returncode, usage, lines)


def _ticks(pid: int) -> tuple[int, int]:
    """(utime + stime, cutime + cstime) of `pid` in clock ticks; zeros once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid`, of the children it has reaped, and of its live children.

    One level is enough for the postmaster (backends, autovacuum, WAL writer) and for
    nginx (its workers). Exited children count through the parent's cutime/cstime.
    """
    own, reaped = _ticks(pid)
    live = sum(sum(_ticks(child)) for child in children(pid))
    return (own + reaped + live) / os.sysconf("SC_CLK_TCK")


def postgres_kind(title: str) -> str:
    """Which part of the cluster a server process is, from its process title."""
    if "autovacuum worker" in title:
        return "autovacuum"
    if any(name in title for name in ("walwriter", "checkpointer", "background writer", "launcher", "stats")):
        return "background processes"
    return "backends"


class CpuSampler:
    """CPU of a process's children by kind, sampled in a thread every `every_s`.

    A child seen at its first sample counts from there; one that exits between two
    samples loses its time since the last sample here, which the caller's total (the
    parent's cutime) keeps.
    """

    def __init__(self, parent: int, kind: Callable[[str], str], every_s: float = 0.1) -> None:
        self._parent, self._kind, self._every_s = parent, kind, every_s
        self._first: dict[int, int] = {}
        self._last: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._every_s):
            self._sample()

    def _sample(self, initial: bool = False) -> None:
        for child in children(self._parent):
            ticks = _ticks(child)[0]
            if child not in self._last:
                self._first[child] = ticks if initial else 0
                self._last[child] = (self._kind(_title(child)), ticks)
            else:
                self._last[child] = (self._last[child][0], max(ticks, self._last[child][1]))

    def seconds_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, (kind, ticks) in self._last.items():
            out[kind] = out.get(kind, 0.0) + (ticks - self._first[pid]) / os.sysconf("SC_CLK_TCK")
        return out


def postmaster_pid(bench: Bench) -> int:
    return int((bench.cluster.data_dir / "postmaster.pid").read_text().split()[0])


async def _until_alone(conn: asyncpg.Connection) -> None:
    deadline = time.monotonic() + ALONE_BUDGET_S
    while await conn.fetchval(OTHERS_SQL):
        if time.monotonic() > deadline:
            raise BenchError("the sidecar's database connections did not close")
        await asyncio.sleep(0.01)


async def wal_by_record(conn: asyncpg.Connection, start: str, end: str) -> dict[str, WalPart]:
    """WAL between two insert positions, by record type (pg_walinspect), once it is flushed."""
    deadline = time.monotonic() + 5.0
    while await conn.fetchval("select pg_current_wal_flush_lsn() < $1::text::pg_lsn", end):
        if time.monotonic() > deadline:
            raise BenchError("WAL was not flushed within 5 s")
        await asyncio.sleep(0.02)
    rows = await conn.fetch(WAL_SQL, start, end)
    return {r["kind"]: WalPart(int(r["count"]), int(r["combined_size"]), int(r["fpi_size"]))
            for r in rows}


async def server_settings(dsn: str) -> dict[str, str]:
    """The settings a new session of that database gets (`alter database … set` included)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select name, current_setting(name) as value from unnest($1::text[]) as name",
                                list(SETTINGS_SHOWN))
    finally:
        await conn.close()
    return {r["name"]: r["value"] for r in rows}


@dataclass(frozen=True)
class Preparation:
    """How the leads arrive. The user path: ~1 KB leads, all in one statement, no vacuum;
    the other values exist to tell apart what the tuned run does differently."""

    lead_sql: str = data.INSERT_KB_LEADS
    per_statement: int | None = None  # None: all in one statement
    vacuum: bool = False  # VACUUM ANALYZE the queue before the sidecar starts


USER_PATH = Preparation()


async def prepare(conn: asyncpg.Connection, url: str, deliveries: int, how: Preparation,
                  database_settings: dict[str, str] | None) -> str:
    """Tenant, leads, settings for the sidecar's sessions; the database's name."""
    tenant = await data.create_tenant(conn, url)
    step = how.per_statement or deliveries
    for start in range(0, deliveries, step):
        await data.insert_leads(conn, tenant.funnel_id, min(step, deliveries - start), how.lead_sql)
    if how.vacuum:
        await conn.execute("vacuum analyze public.webhook_queue")
    name: str = await conn.fetchval("select current_database()")
    await conn.execute("create extension if not exists pg_walinspect")
    # New sessions only: the sidecar's, not this one (which made the insert).
    for setting, value in {"track_functions": "all", **(database_settings or {})}.items():
        await conn.execute(f"alter database {name} set {setting} = '{value}'")
    return name


async def user_run(bench: Bench, url: str, deliveries: int, *, how: Preparation = USER_PATH,
                   prefix: list[str] | None = None, extra_env: dict[str, str] | None = None,
                   database_settings: dict[str, str] | None = None, receiver_pid: int | None = None,
                   budget_s: float = 240.0) -> UserRun:
    """Insert `deliveries` leads in one statement, then time one `webhook-sidecar run --once`."""
    async with clone(bench, "user") as conn:
        name = await prepare(conn, url, deliveries, how, database_settings)
        cmd = [*(prefix or [SIDECAR]), "run", "--once"]
        env = user_env(bench.dsn(name), extra_env)
        postmaster = postmaster_pid(bench)
        wal_start = str(await conn.fetchval("select pg_current_wal_insert_lsn()::text"))
        pg_before = tree_cpu_s(postmaster)
        rx_before = tree_cpu_s(receiver_pid) if receiver_pid else 0.0
        with CpuSampler(postmaster, postgres_kind) as by_kind:
            exited = await asyncio.to_thread(spawn_and_reap, cmd, env, bench.scratch, budget_s)
        rx_cpu = tree_cpu_s(receiver_pid) - rx_before if receiver_pid else None
        if exited.code != 0:
            raise BenchError(f"webhook-sidecar exited {exited.code}: {exited.tail()}")
        await _until_alone(conn)
        pg_cpu = tree_cpu_s(postmaster) - pg_before
        pg_kinds = by_kind.seconds_by_kind()
        pg_kinds["exited between samples, postmaster"] = max(0.0, pg_cpu - sum(pg_kinds.values()))
        wal_end = str(await conn.fetchval("select pg_current_wal_insert_lsn()::text"))
        row = await conn.fetchrow(OUTCOME_SQL)
        await conn.execute("select pg_stat_clear_snapshot()")
        functions = {r["funcname"]: FunctionCost(int(r["calls"]), float(r["total_time"]), float(r["self_time"]))
                     for r in await conn.fetch(FUNCTION_STATS_SQL)}
        sizes = dict(await conn.fetchrow(SIZES_SQL) or {})
        sample_log = dict(await conn.fetchrow(SAMPLE_LOG_SQL) or {})
        settings = await server_settings(bench.dsn(name))
        wal = await wal_by_record(conn, wal_start, wal_end)
    assert row is not None
    if row["completed"] != deliveries or row["logged"] != deliveries:
        raise BenchError(f"user path: {row['completed']} completed, {row['logged']} logged of {deliveries}")
    return UserRun(
        deliveries=deliveries, completed=int(row["completed"]), logged=int(row["logged"]), exited=exited,
        first_claim=float(row["first_claim"]), last_completed=float(row["last_completed"]),
        postgres_cpu_s=pg_cpu, postgres_cpu_by_kind=pg_kinds, receiver_cpu_s=rx_cpu, wal=wal,
        functions=functions, settings=settings,
        sizes={k: float(v or 0) for k, v in sizes.items()}, sample_log=sample_log,
    )


# -- summaries over rounds (medians) ----------------------------------------------------


def median_of(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def median_phases(runs: list[UserRun]) -> dict[str, float]:
    return {name: median_of([r.phases()[name] for r in runs]) for name in runs[0].phases()}


def median_cpu_us(runs: list[UserRun]) -> dict[str, float]:
    """CPU µs per delivery: the sidecar process, the cluster by kind of process, the receiver."""
    out = {"sidecar process (user)": median_of([r.per_delivery_us(r.exited.usage.ru_utime) for r in runs]),
           "sidecar process (system)": median_of([r.per_delivery_us(r.exited.usage.ru_stime) for r in runs]),
           "PostgreSQL, all processes": median_of([r.per_delivery_us(r.postgres_cpu_s) for r in runs])}
    for kind in sorted({k for r in runs for k in r.postgres_cpu_by_kind}):
        out[f"… {kind}"] = median_of([r.per_delivery_us(r.postgres_cpu_by_kind.get(kind, 0.0)) for r in runs])
    if all(r.receiver_cpu_s is not None for r in runs):
        out["receiver (nginx)"] = median_of([r.per_delivery_us(r.receiver_cpu_s or 0.0) for r in runs])
    return out


def function_table(runs: list[UserRun]) -> list[str]:
    """Markdown rows: every public function the run called, by server time per delivery."""
    names = sorted({n for r in runs for n in r.functions},
                   key=lambda n: -median_of([r.functions[n].total_ms for r in runs if n in r.functions]))
    rows = ["| function | calls | deliveries per call | total µs/delivery | self µs/delivery |",
            "|---|---|---|---|---|"]
    for name in names:
        costs = [(r, r.functions[name]) for r in runs if name in r.functions]
        calls = median_of([c.calls for _, c in costs])
        rows.append(f"| {name} | {calls:,.0f} | {runs[0].completed / calls:.1f} | "
                    f"{median_of([r.per_delivery_us(c.total_ms / 1000) for r, c in costs]):.1f} | "
                    f"{median_of([r.per_delivery_us(c.self_ms / 1000) for r, c in costs]):.1f} |")
    return rows


def wal_table(runs: list[UserRun], top: int = 12) -> list[str]:
    """Markdown rows: WAL per delivery by record type, largest first."""
    kinds = sorted({k for r in runs for k in r.wal},
                   key=lambda k: -median_of([r.wal[k].bytes for r in runs if k in r.wal]))
    rows = ["| WAL record type | records/delivery | bytes/delivery | of which full-page images |",
            "|---|---|---|---|"]
    for kind in kinds[:top]:
        parts = [(r, r.wal.get(kind, WalPart(0, 0, 0))) for r in runs]
        rows.append(f"| {kind} | {median_of([p.records / r.completed for r, p in parts]):.2f} | "
                    f"{median_of([p.bytes / r.completed for r, p in parts]):,.0f} | "
                    f"{median_of([p.fpi_bytes / r.completed for r, p in parts]):,.0f} |")
    rows.append(f"| all | {median_of([sum(p.records for p in r.wal.values()) / r.completed for r in runs]):.2f} | "
                f"{median_of([r.wal_bytes / r.completed for r in runs]):,.0f} | "
                f"{median_of([sum(p.fpi_bytes for p in r.wal.values()) / r.completed for r in runs]):,.0f} |")
    return rows
