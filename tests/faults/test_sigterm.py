"""SIGTERM under load: in-flight attempts finish within the grace period and are recorded."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import (
    all_ended,
    processing_of,
    queue_counts,
    seed_leads,
    seed_rule,
    start_sidecar,
    wait_until,
)
from tests.faults.ledger import check_ledger
from tests.faults.receiver import ChaosReceiver, Mode, always

pytestmark = pytest.mark.faults

DELIVERIES = 2500
LATENCY_S = 0.2  # each attempt is in flight this long: a SIGTERM always finds many


async def _reached(receiver: ChaosReceiver, count: int) -> bool:
    return receiver.count() >= count


async def test_sigterm_under_load_finishes_and_records_in_flight_attempts_then_exits_0(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path
) -> None:
    with ChaosReceiver(always(Mode.SLOW), slow_s=LATENCY_S) as receiver:
        rule = await seed_rule(db, receiver.url(), timeout_ms=2000)
        await seed_leads(db, rule, DELIVERIES)
        settings = {"WEBHOOK_CONCURRENCY": "100", "WEBHOOK_PER_HOST_CONCURRENCY": "100",
                    "WEBHOOK_SHUTDOWN_GRACE_SECONDS": "10"}
        first = await start_sidecar(fault_dsn, tmp_path, "stopping", **settings)
        await wait_until(lambda: _reached(receiver, DELIVERIES // 4), 60, "a quarter of the deliveries")

        in_flight = await processing_of(db, first.worker_id)
        assert await first.terminate() == 0, first.tail()
        stopped_at = receiver.hits()
        counts = await queue_counts(db)
        assert "processing" not in counts, f"left processing after SIGTERM: {counts}"
        logged = await db.fetchval("select count(*) from webhook_logs")
        assert logged == len(stopped_at), f"{len(stopped_at)} requests received, {logged} recorded before exit"
        assert "0 unrecorded" in first.text()

        second = await start_sidecar(fault_dsn, tmp_path, "resuming", **settings)
        await wait_until(lambda: all_ended(db), 60, "the rest to be delivered after the restart")
        assert await second.terminate() == 0, second.tail()
        figures = await check_ledger(db, receiver.hits(), "SIGTERM under load, then a restart",
                                     in_flight_at_fault=in_flight, exact=True)
    assert in_flight > 0 and counts.get("pending", 0) > 0, "the SIGTERM did not land mid-run"
    assert figures.duplicates == 0, "an attempt in flight at SIGTERM was cut off and made again"

