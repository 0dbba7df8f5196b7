"""Receiver chaos over thousands of deliveries: 200, 500, 429, hangs, resets, drips, floods.

The receiver picks what to do with each request from a seeded RNG; the ledger must agree
one for one: every request it saw is a log row with the answer it gave, and no more.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import all_ended, seed_leads, seed_rule, start_sidecar, wait_until
from tests.faults.ledger import check_ledger
from tests.faults.receiver import ChaosReceiver, Hit, Mode, chaos

pytestmark = pytest.mark.faults

DELIVERIES = 2000
WEIGHTS = {
    Mode.OK: 40, Mode.ERROR: 14, Mode.THROTTLE: 8, Mode.HANG: 4, Mode.RESET: 10,
    Mode.DRIP: 10, Mode.DRIP_FOREVER: 4, Mode.HUGE: 10,
}
TIMEOUT_MS = 500  # a hang or an endless drip costs half a second
MAX_RESPONSE_BYTES = 65536


@pytest.mark.parametrize("seed", [1, 2])
async def test_receiver_chaos_ledger_agrees_one_for_one(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path, seed: int
) -> None:
    with ChaosReceiver(chaos(seed, WEIGHTS), drip_s=0.1) as receiver:
        rule = await seed_rule(db, receiver.url(), timeout_ms=TIMEOUT_MS, max_retries=3,
                               retry_delay_ms=100, retry_backoff_multiplier=2)
        await seed_leads(db, rule, DELIVERIES)
        sidecar = await start_sidecar(fault_dsn, tmp_path, "chaos", WEBHOOK_PER_HOST_CONCURRENCY="50",
                                      WEBHOOK_MAX_RESPONSE_BYTES=str(MAX_RESPONSE_BYTES))
        await wait_until(lambda: all_ended(db), 100, "every chaotic delivery to end")
        assert await sidecar.terminate() == 0, sidecar.tail()
        hits = receiver.hits()
        figures = await check_ledger(db, hits, "receiver chaos (seeded mix of 8 behaviours)", exact=True)

    assert {h.mode for h in hits} == set(WEIGHTS), "the seed left a behaviour untried"
    assert figures.attempts_logged > DELIVERIES
    assert not _early_after_throttle(hits), "an attempt came sooner than its 429's Retry-After: 1"
    longest = await db.fetchval(
        "select max(octet_length(response_body) + (select coalesce(sum(octet_length(h.key) + octet_length(h.value) + 4), 0)"
        " from jsonb_each_text(response_headers) h)) from webhook_logs")
    # Headers and body share the cap; a masked header counts less than what was sent.
    assert MAX_RESPONSE_BYTES - 200 <= longest <= MAX_RESPONSE_BYTES, "a flooding receiver's body was not cut at the cap"


def _early_after_throttle(hits: list[Hit]) -> list[str]:
    """webhook-ids whose attempt after a 429 (Retry-After: 1) came less than a second later."""
    by_id: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_id[hit.webhook_id].append(hit)
    early = []
    for webhook_id, seen in by_id.items():
        for first, second in zip(seen, seen[1:]):
            if first.mode is Mode.THROTTLE and second.received_at - first.received_at < 1.0:
                early.append(webhook_id)
    return early
