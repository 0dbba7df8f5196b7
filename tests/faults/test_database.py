"""PostgreSQL restarted, or gone for longer than a lease, under a running sidecar."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from sidecar.ops.embedded import LocalCluster
from tests.faults.harness import (
    Sidecar,
    all_ended,
    processing_of,
    seed_leads,
    seed_rule,
    start_sidecar,
    wait_until,
)
from tests.faults.ledger import check_ledger
from tests.faults.pgproxy import CommitCutter
from tests.faults.receiver import ChaosReceiver, Mode, always

pytestmark = pytest.mark.faults

DELIVERIES = 3000
LEASE_S = 20  # the sidecar's first lease: its default 10 s timeout plus twice its 5 s margin
RECEIVER_LATENCY_S = 0.05  # keeps a run long enough for the fault to land in its middle


async def _reached(receiver: ChaosReceiver, count: int) -> bool:
    return receiver.count() >= count


async def _start(dsn: str, workdir: Path, db: asyncpg.Connection, receiver: ChaosReceiver) -> Sidecar:
    rule = await seed_rule(db, receiver.url(), timeout_ms=1000)
    await seed_leads(db, rule, DELIVERIES)
    sidecar = await start_sidecar(dsn, workdir, "survivor", WEBHOOK_LEASE_SECONDS="5")
    await wait_until(lambda: _reached(receiver, DELIVERIES // 4), 60, "a quarter of the deliveries")
    return sidecar


async def _finish(dsn: str, sidecar: Sidecar) -> asyncpg.Connection:
    """Reconnect, wait for every delivery to end with the same process alive, stop it cleanly."""
    db = await asyncpg.connect(dsn)
    await wait_until(lambda: _ended_while_alive(db, sidecar), 90, "every delivery to end after the database came back")
    assert await sidecar.terminate() == 0, sidecar.tail()
    assert "Traceback" not in sidecar.text(), sidecar.tail(60)
    return db


async def _ended_while_alive(db: asyncpg.Connection, sidecar: Sidecar) -> bool:
    assert sidecar.alive, f"the sidecar exited with {sidecar.proc.returncode}:\n{sidecar.tail()}"
    return await all_ended(db)


async def test_postgres_restart_mid_run_the_sidecar_reconnects_and_records_what_it_held(
    db: asyncpg.Connection, fault_dsn: str, fault_cluster: LocalCluster, tmp_path: Path
) -> None:
    with ChaosReceiver(always(Mode.SLOW), slow_s=RECEIVER_LATENCY_S) as receiver:
        sidecar = await _start(fault_dsn, tmp_path, db, receiver)
        in_flight = await processing_of(db, sidecar.worker_id)
        await asyncio.to_thread(fault_cluster.restart)
        assert sidecar.alive, sidecar.tail()
        after = await _finish(fault_dsn, sidecar)
        try:
            await check_ledger(after, receiver.hits(), "PostgreSQL restarted mid-run (pg_ctl restart -m fast)",
                               in_flight_at_fault=in_flight)
        finally:
            await after.close()
    assert "database reachable again" in sidecar.text()


async def test_postgres_gone_longer_than_the_lease_brings_no_storm_of_second_deliveries(
    db: asyncpg.Connection, fault_dsn: str, fault_cluster: LocalCluster, tmp_path: Path
) -> None:
    with ChaosReceiver(always(Mode.SLOW), slow_s=RECEIVER_LATENCY_S) as receiver:
        sidecar = await _start(fault_dsn, tmp_path, db, receiver)
        in_flight = await processing_of(db, sidecar.worker_id)
        await asyncio.to_thread(fault_cluster.stop)
        await asyncio.sleep(LEASE_S + 3)  # every lease taken before the outage has expired
        await asyncio.to_thread(fault_cluster.start)
        after = await _finish(fault_dsn, sidecar)
        try:
            figures = await check_ledger(after, receiver.hits(), "PostgreSQL unreachable for longer than the lease",
                                         in_flight_at_fault=in_flight)
        finally:
            await after.close()
    assert figures.duplicates == 0, (
        f"{figures.duplicates} deliveries went out twice after the outage: results held through it were "
        "not recorded before their expired deliveries were claimed again")


async def test_replies_lost_after_commit_do_not_log_an_attempt_twice(
    db: asyncpg.Connection, fault_dsn: str, fault_cluster: LocalCluster, tmp_path: Path
) -> None:
    assert fault_cluster.port is not None
    with ChaosReceiver() as receiver, CommitCutter(fault_cluster.port, "record_webhook_attempts", seed=4) as proxy:
        rule = await seed_rule(db, receiver.url(), timeout_ms=1000)
        await seed_leads(db, rule, DELIVERIES)
        through_proxy = f"postgresql://postgres@127.0.0.1:{proxy.port}/{fault_dsn.rsplit('/', 1)[1]}?sslmode=disable"
        sidecar = await start_sidecar(through_proxy, tmp_path, "unlucky", WEBHOOK_BATCH_SIZE="20")
        await wait_until(lambda: _ended_while_alive(db, sidecar), 60, "every delivery to end despite lost replies")
        assert await sidecar.terminate() == 0, sidecar.tail()
        await check_ledger(db, receiver.hits(), "replies of committed record calls lost (TCP proxy cuts)", exact=True)
    assert proxy.cuts > 0, "the proxy never cut a reply"
