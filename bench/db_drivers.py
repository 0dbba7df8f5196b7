"""asyncpg vs psycopg 3 (async) for the worker's database round trip: claim a batch, record it.

Starts a throwaway PostgreSQL cluster, applies the migrations, enqueues deliveries,
then has L concurrent loops each claim B deliveries and record B successful results,
until the queue is empty. The figure is deliveries claimed and recorded per second
(no HTTP: only the driver and the SQL functions are measured).

    python bench/db_drivers.py [--deliveries 6000] [--write bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import psycopg

from sidecar.ops import migrate
from sidecar.ops.embedded import LocalCluster, free_port
from sidecar.store.queries import query

CELLS = ((1, 1), (4, 1), (4, 50))  # (loops, batch)
PING_CELL = (0, 0)  # the driver alone: sequential `select $1` round trips
BEGIN, END = "<!-- db-drivers:begin -->", "<!-- db-drivers:end -->"

RESET = """
delete from webhook_logs;
update webhook_queue set status = 'pending', attempt_number = 1, locked_by = null,
  lease_expires_at = null, webhook_log_id = null, completed_at = null, scheduled_at = now() - interval '1 s';
"""


def result_json(queue_ids: list[str]) -> str:
    return json.dumps([
        {"queue_id": q, "worker_id": "bench", "attempt_number": 1, "webhook_url": "http://127.0.0.1/h",
         "request_headers": {"Content-Type": "application/json"}, "response_status": 200,
         "response_headers": {}, "response_body": "ok", "duration_ms": 3, "success": True,
         "error_type": None, "error_message": None, "retry_in_ms": None}
        for q in queue_ids
    ])


# Each driver: connect(dsn) -> a round trip function (claim B then record them) -> claimed count.
RoundTrip = Callable[[int], Awaitable[int]]


async def asyncpg_loop(dsn: str) -> tuple[RoundTrip, Callable[[], Awaitable[None]]]:
    conn = await asyncpg.connect(dsn)
    claim, record = query("claim_jobs"), query("record_attempts")

    async def round_trip(batch: int) -> int:
        rows = await conn.fetch(claim, "bench", batch, 60)
        if rows:
            await conn.fetch(record, result_json([str(r["queue_id"]) for r in rows]))
        return len(rows)

    return round_trip, conn.close


def _psycopg_sql(sql: str) -> str:
    return re.sub(r"\$(\d+)", "%s", sql)  # the same named queries, in psycopg's placeholder style


async def psycopg_loop(dsn: str) -> tuple[RoundTrip, Callable[[], Awaitable[None]]]:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    claim, record = _psycopg_sql(query("claim_jobs")), _psycopg_sql(query("record_attempts"))

    async def round_trip(batch: int) -> int:
        async with conn.cursor() as cur:
            await cur.execute(claim, ("bench", batch, 60))
            rows = await cur.fetchall()
            if rows:
                await cur.execute(record, (result_json([str(r[0]) for r in rows]),))
                await cur.fetchall()
        return len(rows)

    return round_trip, conn.close


DRIVERS = {"asyncpg": asyncpg_loop, "psycopg 3 async": psycopg_loop}
PINGS = 5000


async def asyncpg_pings(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    for i in range(PINGS):
        await conn.fetchval("select $1::int", i)
    elapsed = time.perf_counter() - started
    await conn.close()
    return PINGS / elapsed


async def psycopg_pings(dsn: str) -> float:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    started = time.perf_counter()
    async with conn.cursor() as cur:
        for i in range(PINGS):
            await cur.execute("select %s::int", (i,))
            await cur.fetchone()
    elapsed = time.perf_counter() - started
    await conn.close()
    return PINGS / elapsed


PING_DRIVERS = {"asyncpg": asyncpg_pings, "psycopg 3 async": psycopg_pings}


async def seed(dsn: str, deliveries: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate.bootstrap(conn)
        await migrate.migrate(conn)
        owner = await conn.fetchval("insert into auth.users (id) values (gen_random_uuid()) returning id")
        funnel = await conn.fetchval(
            "insert into funnels (owner_id, name, status) values ($1, 'bench', 'active') returning id", owner)
        await conn.execute("insert into routing_rules (funnel_id, client_name, webhook_url)"
                           " values ($1, 'bench', 'http://127.0.0.1/h')", funnel)
        await conn.execute("insert into leads (funnel_id, data) select $1, jsonb_build_object('i', i)"
                           " from generate_series(1, $2) i", funnel, deliveries)
    finally:
        await conn.close()


async def measure(dsn: str, driver: str, loops: int, batch: int, deliveries: int) -> float:
    admin = await asyncpg.connect(dsn)
    await admin.execute(RESET)
    await admin.close()
    opened = [await DRIVERS[driver](dsn) for _ in range(loops)]
    done = 0

    async def drain(round_trip: RoundTrip) -> None:
        nonlocal done
        while (n := await round_trip(batch)) > 0:
            done += n

    started = time.perf_counter()
    await asyncio.gather(*(drain(rt) for rt, _ in opened))
    elapsed = time.perf_counter() - started
    for _, close in opened:
        await close()
    assert done == deliveries, f"{driver}: {done} of {deliveries} deliveries went through"
    return done / elapsed


async def run(deliveries: int, repeats: int) -> dict[str, dict[tuple[int, int], float]]:
    cluster = LocalCluster(root=Path(tempfile.mkdtemp(prefix="bench-db-")), port=free_port())
    cluster.ensure_started()
    try:
        dsn = cluster.dsn("postgres")
        await seed(dsn, deliveries)
        table: dict[str, dict[tuple[int, int], float]] = {d: {} for d in DRIVERS}
        for loops, batch in CELLS:
            for driver in DRIVERS:
                runs = [await measure(dsn, driver, loops, batch, deliveries) for _ in range(repeats)]
                table[driver][(loops, batch)] = statistics.median(runs)
                print(f"{driver:16} loops={loops} batch={batch}: {table[driver][(loops, batch)]:,.0f}/s")
        for driver, pings in PING_DRIVERS.items():
            table[driver][PING_CELL] = statistics.median([await pings(dsn) for _ in range(repeats)])
            print(f"{driver:16} select $1: {table[driver][PING_CELL]:,.0f}/s")
        return table
    finally:
        cluster.destroy()


def markdown(table: dict[str, dict[tuple[int, int], float]], deliveries: int, repeats: int) -> str:
    heads = " | ".join(f"{loops} loop{'s' if loops > 1 else ''}, batch {batch}" for loops, batch in CELLS)
    heads += " | driver alone: `select $1` per s"
    lines = [
        BEGIN,
        "Command: `python bench/db_drivers.py --write bench/RESULTS.md`  ",
        f"Machine: nproc {_nproc()}, Python {platform.python_version()}, asyncpg {asyncpg.__version__}, "
        f"psycopg {psycopg.__version__}, PostgreSQL local cluster (127.0.0.1, TCP)  ",
        f"Workload: {deliveries:,} queued deliveries drained by `claim_webhook_jobs` + "
        f"`record_webhook_attempts` (the worker's SQL, sidecar/sql/queries.sql); median of {repeats} runs; "
        f"deliveries per second; the last column is one connection doing {PINGS:,} sequential `select $1`.",
        "",
        f"| driver | {heads} |",
        "|---|" + "---|" * (len(CELLS) + 1),
    ]
    for driver, cells in table.items():
        lines.append(f"| {driver} | " + " | ".join(f"{cells[c]:,.0f}" for c in (*CELLS, PING_CELL)) + " |")
    lines.append(END)
    return "\n".join(lines)


def _nproc() -> int:
    import os
    return len(os.sched_getaffinity(0))


def write_section(path: Path, body: str) -> None:
    """Replace this benchmark's section of RESULTS.md, or append it; other sections stay as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + body + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Database driver\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, help="update this RESULTS.md's database driver section")
    args = parser.parse_args(argv)
    table = asyncio.run(run(args.deliveries, args.repeats))
    body = markdown(table, args.deliveries, args.repeats)
    print(body)
    if args.write:
        write_section(args.write, body)


if __name__ == "__main__":
    main()
