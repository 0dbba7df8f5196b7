"""A sidecar whose clock is off changes neither when retries happen nor the signed time.

The sidecar runs under libfaketime (Debian's `faketime`; scripts/bootstrap.sh installs
it) with its wall clock two hours off. It sends only relative delays, and the database
adds them to its own now(); a Retry-After given as a date is read against the
response's own Date header, so the receiver's clock and the sidecar's never meet; and
`webhook-timestamp` counts from the database's time of the claim, so receivers that
refuse stale signatures still accept them.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from tests.faults.harness import Sidecar, all_ended, start_sidecar, wait_until
from tests.faults.ledger import check_ledger
from tests.faults.receiver import RETRY_AFTER_DATE_S, ChaosReceiver, Chooser, Hit, Mode
from tests.integration.support import insert_lead, make_rule

pytestmark = pytest.mark.faults

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
OFFSET_S = 2 * 3600
RETRY_DELAY_MS = 1000
LEADS_PER_RULE = 5
LOG_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def first_then_ok(mode: Mode) -> Chooser:
    return lambda _key, seen: mode if seen == 0 else Mode.OK


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="libfaketime missing: run scripts/bootstrap.sh")
@pytest.mark.parametrize("offset", ["-2h", "+2h"])
async def test_a_sidecar_with_its_clock_off_retries_when_the_database_says(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path, offset: str
) -> None:
    with ChaosReceiver(first_then_ok(Mode.ERROR)) as failing, \
            ChaosReceiver(first_then_ok(Mode.THROTTLE_UNTIL)) as throttling:
        for url in (failing.url(), throttling.url()):
            rule = await make_rule(db, url, retry_delay_ms=RETRY_DELAY_MS, retry_backoff_multiplier=1)
            for _ in range(LEADS_PER_RULE):
                await insert_lead(db, rule.funnel_id)
        sidecar = await start_sidecar(fault_dsn, tmp_path, "skewed", LD_PRELOAD=str(LIBFAKETIME),
                                      FAKETIME=offset, FAKETIME_DONT_FAKE_MONOTONIC="1")
        await wait_until(lambda: _ended_alive(db, sidecar), 30, "both retries of every delivery")
        assert await sidecar.terminate() == 0, sidecar.tail()
        await check_ledger(db, failing.hits() + throttling.hits(), f"sidecar clock {offset} off", exact=True)

    _assert_clock_was_off(sidecar, offset)
    _assert_signed_with_the_right_time(failing.hits() + throttling.hits())
    for gap in _retry_gaps(failing.hits()):
        assert RETRY_DELAY_MS / 1000 <= gap < 60, f"retry after a 500 came {gap:.1f} s later"
    for gap in _retry_gaps(throttling.hits()):
        assert RETRY_AFTER_DATE_S - 1 <= gap < 60, f"retry after a dated Retry-After came {gap:.1f} s later"


async def _ended_alive(db: asyncpg.Connection, sidecar: Sidecar) -> bool:
    assert sidecar.alive, sidecar.tail()
    return await all_ended(db)


def _assert_clock_was_off(sidecar: Sidecar, offset: str) -> None:
    """The sidecar's own log lines carry its wall clock: they show the skew."""
    first_line = next(line for line in sidecar.text().splitlines() if LOG_TIME.match(line))
    logged = datetime.fromisoformat(first_line.split()[0].replace("Z", "+00:00")).timestamp()
    skew = logged - time.time()
    expected = -OFFSET_S if offset.startswith("-") else OFFSET_S
    assert abs(skew - expected) < 600, f"the sidecar's clock was {skew:+.0f} s off, not {offset}"


def _assert_signed_with_the_right_time(hits: list[Hit]) -> None:
    # Every request arrived within the last minute or so of this (correct) clock.
    for hit in hits:
        signed_skew = int(hit.headers["webhook-timestamp"]) - time.time()
        assert -120 < signed_skew <= 1, f"webhook-timestamp was {signed_skew:+.0f} s off the real time"


def _retry_gaps(hits: list[Hit]) -> list[float]:
    """Seconds between each delivery's first and second request, by the receiver's clock."""
    by_id: dict[str, list[float]] = {}
    for hit in hits:
        by_id.setdefault(hit.webhook_id, []).append(hit.received_at)
    assert all(len(times) == 2 for times in by_id.values()), "every delivery takes exactly two attempts"
    return [later - first for first, later in by_id.values()]
