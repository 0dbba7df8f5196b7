"""Two and four sidecars on one queue: each delivery goes out once while its lease holds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import all_ended, attempts_made, seed_leads, seed_rule, start_sidecar, started, wait_until
from tests.faults.ledger import check_ledger
from tests.faults.receiver import ChaosReceiver

pytestmark = pytest.mark.faults

DELIVERIES = 3000


@pytest.mark.parametrize("workers", [2, 4])
async def test_sidecars_sharing_a_queue_never_deliver_one_delivery_twice(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path, workers: int
) -> None:
    with ChaosReceiver() as receiver:
        rule = await seed_rule(db, receiver.url(), timeout_ms=1000)
        sidecars = [await start_sidecar(fault_dsn, tmp_path, f"peer{n}", WEBHOOK_BATCH_SIZE="20")
                    for n in range(workers)]
        await started(sidecars)
        await seed_leads(db, rule, DELIVERIES)
        await wait_until(lambda: all_ended(db), 90, f"{DELIVERIES} deliveries over {workers} sidecars")
        codes = [await s.terminate() for s in sidecars]

        twice = [webhook_id for webhook_id, n in Counter(h.webhook_id for h in receiver.hits()).items() if n > 1]
        assert not twice, f"{len(twice)} deliveries went out more than once, e.g. {twice[:3]}"
        await check_ledger(db, receiver.hits(), f"{workers} sidecars on one queue", exact=True)
    assert codes == [0] * workers, [s.tail() for s in sidecars]
    assert sum(attempts_made(s) for s in sidecars) == DELIVERIES
