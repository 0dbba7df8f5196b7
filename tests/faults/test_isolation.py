"""A slow tenant does not delay the others: a hanging endpoint with a deep backlog and a
name whose DNS never answers, while another tenant's deliveries keep flowing.

The sidecar runs in a network namespace of the test's own (tests/faults/netns.py), where
every DNS query goes to a server that never answers; it reaches the database through the
cluster's Unix socket.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from sidecar.ops.embedded import LocalCluster
from tests.faults.harness import seed_leads, seed_rule, start_sidecar, wait_until
from tests.faults.ledger import FIGURES, Figures
from tests.faults.netns import GOOD_PORT, HANG_PORT

pytestmark = pytest.mark.faults

BACKLOG = 1000  # hanging endpoint
DEAD_DNS = 200  # a host name whose DNS never answers
GOOD = 150  # the other tenant's deliveries, a steady trickle
GOOD_EVERY_S = 0.08
P99_LIMIT_S = 1.0
NETNS = str(Path(__file__).with_name("netns.py"))


def _namespaces_refused() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (unshare --net --mount)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"unshare --net --mount is refused here: {probe.stderr.decode().strip()}"
    return None


def _socket_dsn(cluster: LocalCluster, tcp_dsn: str) -> str:
    """The same database through the cluster's Unix socket, which the namespace can reach."""
    dbname = urlsplit(tcp_dsn).path.lstrip("/")
    return f"postgresql://{cluster.user}@/{dbname}?host={cluster.root}&port={cluster.port}"


async def _first_attempt_latencies(db: asyncpg.Connection, rule_id: object) -> list[float]:
    rows = await db.fetch(
        "select extract(epoch from l.created_at - q.created_at)::float8 as s"
        " from webhook_logs l join webhook_queue q on q.id = l.queue_id"
        " where l.routing_rule_id = $1 and l.attempt_number = 1", rule_id)
    return [row["s"] for row in rows]


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


async def test_a_hanging_backlog_and_a_dead_resolver_leave_another_tenants_first_attempts_under_a_second(
    db: asyncpg.Connection, fault_dsn: str, fault_cluster: LocalCluster, tmp_path: Path
) -> None:
    refused = _namespaces_refused()
    if refused:
        pytest.skip(refused)
    hanging = await seed_rule(db, f"http://hang.test:{HANG_PORT}/hook", timeout_ms=300_000)
    dead = await seed_rule(db, "http://dead.test/hook", timeout_ms=5_000, max_retries=0)
    good = await seed_rule(db, f"http://good.test:{GOOD_PORT}/hook", timeout_ms=5_000)
    sidecar = await start_sidecar(
        _socket_dsn(fault_cluster, fault_dsn), tmp_path, "isolated",
        wrapper=("unshare", "--net", "--mount", sys.executable, NETNS, str(tmp_path), "--"),
        WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_SHUTDOWN_GRACE_SECONDS="1")
    await wait_until(lambda: _says(sidecar, "delivering over"), 30, "the sidecar to start")

    await seed_leads(db, hanging, BACKLOG)
    await seed_leads(db, dead, DEAD_DNS)
    await asyncio.sleep(1.0)  # the backlog is claimed and the dead name's lookups hang
    for _ in range(GOOD):
        await seed_leads(db, good, 1)
        await asyncio.sleep(GOOD_EVERY_S)
    await wait_until(lambda: _all_completed(db, good.id, GOOD), 30, "the other tenant's deliveries")
    assert await sidecar.terminate() == 0, sidecar.tail()

    latencies = await _first_attempt_latencies(db, good.id)
    arrivals = (tmp_path / "good-arrivals.txt").read_text().split()
    leftover = await db.fetchval("select count(*) from webhook_queue where status = 'processing'")
    total = await db.fetchval("select count(*) from webhook_queue")
    p50, p99 = statistics.median(latencies), _p99(latencies)
    FIGURES.append(Figures(
        fault=f"another tenant beside a hanging endpoint with {BACKLOG} queued and a DNS that never answers "
              f"(its first attempts: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms)",
        deliveries=GOOD, attempts_logged=len(latencies), requests_received=len(arrivals) // 2,
        lost=GOOD - len(latencies), duplicates=len(arrivals) // 2 - len(latencies), in_flight_at_fault=0))

    assert len(latencies) == GOOD and len(arrivals) // 2 >= GOOD  # every one delivered, logged once
    assert p99 <= P99_LIMIT_S, f"p50 {p50:.3f} s, p99 {p99:.3f} s"
    assert (leftover, total) == (0, BACKLOG + DEAD_DNS + GOOD)


async def _says(sidecar: object, text: str) -> bool:
    assert sidecar.alive, sidecar.tail()  # type: ignore[attr-defined]
    return text in sidecar.text()  # type: ignore[attr-defined]


async def _all_completed(db: asyncpg.Connection, rule_id: object, count: int) -> bool:
    done = await db.fetchval(
        "select count(*) from webhook_queue where routing_rule_id = $1 and status = 'completed'", rule_id)
    return int(done) >= count
