"""Isolation between tenants: another tenant's first-attempt latency beside a slow one.

One `webhook-sidecar run` (default settings: concurrency 50, 20 per host) runs inside a
network namespace of its own (tests/faults/netns.py: loopback only, a DNS server that
never answers, receivers `good.test` answering at once and `hang.test` that accepts and
never answers), reaching the database through its Unix socket. Each phase gets a fresh
database and a fresh sidecar, then the measured tenant inserts one lead every
`--every-ms` and the phase reads, per delivery, its first log's created_at minus the
queue row's created_at (both the database's clock):

    baseline   the measured tenant alone
    backlog    plus a hanging endpoint (timeout_ms 300000) with --backlog deliveries queued
    dns        plus, on top of the backlog, --dead deliveries to a name whose DNS never answers

Printed: p50/p99 per phase and as a ratio to the baseline of the same run. Run as root:

    .venv/bin/python bench/scenarios/isolation.py [--backlog 1000] [--dead 200] [--leads 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH_DIR))

from scenarios import data  # noqa: E402
from scenarios.common import Bench, BenchError, bench_cluster, create_clone, drop_clone, machine  # noqa: E402

NETNS = BENCH_DIR.parent / "tests" / "faults" / "netns.py"
SIDECAR = str(Path(sys.executable).parent / "webhook-sidecar")
GOOD_URL = "http://good.test:8081/hook"
HANG_URL = "http://hang.test:8082/hook"
DEAD_URL = "http://dead.test/hook"
LATENCY_SQL = """
select extract(epoch from l.created_at - q.created_at) * 1000 as ms
from public.webhook_logs l join public.webhook_queue q on q.id = l.queue_id
where l.routing_rule_id = $1 and l.attempt_number = 1
"""


def socket_dsn(bench: Bench, tcp_dsn: str) -> str:
    dbname = urlsplit(tcp_dsn).path.lstrip("/")
    cluster = bench.cluster
    return f"postgresql://{cluster.user}@/{dbname}?host={cluster.root}&port={cluster.port}"


async def start_sidecar(bench: Bench, dsn: str, workdir: Path) -> asyncio.subprocess.Process:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DATABASE_URL": socket_dsn(bench, dsn), "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
           "WEBHOOK_SHUTDOWN_GRACE_SECONDS": "1", "WEBHOOK_WORKER_ID": "isolation"}
    with (workdir / "sidecar.log").open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            "unshare", "--net", "--mount", sys.executable, str(NETNS), str(workdir), "--", SIDECAR, "run",
            cwd=workdir, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink)
    deadline = time.monotonic() + 30
    while "delivering over" not in (workdir / "sidecar.log").read_text(errors="replace"):
        if proc.returncode is not None or time.monotonic() > deadline:
            raise BenchError(f"the sidecar did not start: {(workdir / 'sidecar.log').read_text()[-2000:]}")
        await asyncio.sleep(0.1)
    return proc


async def set_timeout(conn: asyncpg.Connection, rule_id: object, timeout_ms: int) -> None:
    await conn.execute("select public.update_webhook_config($1, jsonb_build_object('timeout_ms', $2::int,"
                       " 'max_retries', 0))", rule_id, timeout_ms)


async def phase(bench: Bench, name: str, args: argparse.Namespace, backlog: int, dead: int) -> list[float]:
    dsn = await create_clone(bench, f"isolation_{name}")
    conn = await asyncpg.connect(dsn)
    proc = await start_sidecar(bench, dsn, bench.scratch / name)
    try:
        good = await data.create_tenant(conn, GOOD_URL)
        for url, count, timeout_ms in ((HANG_URL, backlog, 300_000), (DEAD_URL, dead, 5_000)):
            if count:
                tenant = await data.create_tenant(conn, url)
                await set_timeout(conn, tenant.rule_ids[0], timeout_ms)
                await data.insert_leads(conn, tenant.funnel_id, count)
        await asyncio.sleep(1.0 if backlog or dead else 0)
        for _ in range(args.leads):
            await data.insert_leads(conn, good.funnel_id, 1)
            await asyncio.sleep(args.every_ms / 1000)
        rule = good.rule_ids[0]
        deadline = time.monotonic() + 60
        while len(rows := await conn.fetch(LATENCY_SQL, rule)) < args.leads:
            if time.monotonic() > deadline:
                raise BenchError(f"{name}: {len(rows)} of {args.leads} first attempts logged in 60 s")
            await asyncio.sleep(0.1)
        return [float(r["ms"]) for r in rows]
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        await conn.close()
        await drop_clone(bench, dsn)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def run(bench: Bench, args: argparse.Namespace) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name, backlog, dead in (("baseline", 0, 0), ("backlog", args.backlog, 0), ("dns", args.backlog, args.dead)):
        ms = await phase(bench, name, args, backlog, dead)
        rows.append({"phase": name, "backlog": backlog, "dead_dns": dead, "leads": len(ms),
                     "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(p99(ms), 1)})
    base = rows[0]
    for row in rows:
        row["p50_ratio"] = round(float(row["p50_ms"]) / max(float(base["p50_ms"]), 0.1), 2)  # type: ignore[arg-type]
        row["p99_ratio"] = round(float(row["p99_ms"]) / max(float(base["p99_ms"]), 0.1), 2)  # type: ignore[arg-type]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=1000, help="deliveries queued for the hanging endpoint")
    parser.add_argument("--dead", type=int, default=200, help="deliveries to the name whose DNS never answers")
    parser.add_argument("--leads", type=int, default=200, help="the measured tenant's deliveries per phase")
    parser.add_argument("--every-ms", type=float, default=50.0, help="gap between the measured tenant's leads")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: the sidecar runs in a network namespace (unshare --net --mount)")
    with bench_cluster(quick=False) as bench:
        rows = asyncio.run(run(bench, args))
    print(json.dumps({"machine": machine()}))
    print("| phase | backlog | dead DNS | leads | p50 ms | p99 ms | p50 / baseline | p99 / baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['phase']} | {r['backlog']} | {r['dead_dns']} | {r['leads']} | {r['p50_ms']} | {r['p99_ms']}"
              f" | {r['p50_ratio']} | {r['p99_ratio']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
