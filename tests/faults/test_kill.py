"""kill -9 of a sidecar in the middle of thousands of deliveries, then a fresh one."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import all_ended, processing_of, seed_leads, seed_rule, start_sidecar, wait_until
from tests.faults.ledger import check_ledger
from tests.faults.receiver import ChaosReceiver

pytestmark = pytest.mark.faults

DELIVERIES = 2500


async def test_kill_9_mid_run_then_a_restart_delivers_everything_once_more_at_most(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path
) -> None:
    with ChaosReceiver() as receiver:
        rule = await seed_rule(db, receiver.url(), timeout_ms=1000)
        await seed_leads(db, rule, DELIVERIES)
        doomed = await start_sidecar(fault_dsn, tmp_path, "doomed", WEBHOOK_LEASE_SECONDS="5")
        await wait_until(lambda: _over(receiver, DELIVERIES // 3), 60, "a third of the deliveries")

        doomed.kill9()
        assert await doomed.wait() == -9
        in_flight = await processing_of(db, doomed.worker_id)
        successor = await start_sidecar(fault_dsn, tmp_path, "successor", WEBHOOK_LEASE_SECONDS="5")
        await wait_until(lambda: all_ended(db), 90, "every delivery to end after the restart")
        assert await successor.terminate() == 0, successor.tail()

        figures = await check_ledger(db, receiver.hits(), "kill -9 of the sidecar mid-run, then a restart",
                                     in_flight_at_fault=in_flight)
    assert figures.deliveries == DELIVERIES
    assert in_flight > 0, "the kill came too late to hit any delivery in flight"


async def _over(receiver: ChaosReceiver, count: int) -> bool:
    return receiver.count() >= count
