"""The retry delay cap: one value in SQL and Python, and no retry_in_ms can overflow the record call."""

from __future__ import annotations

import asyncpg
import pytest

from sidecar.worker.decide import MAX_RETRY_DELAY_MS
from tests.db.conftest import World, add_lead, claim, record, result


async def test_the_sql_cap_is_the_python_cap(db: asyncpg.Connection) -> None:
    assert await db.fetchval("select webhooks_private.webhook_max_retry_delay_ms()") == MAX_RETRY_DELAY_MS == 30 * 86_400_000


@pytest.mark.parametrize("retry_in_ms", [MAX_RETRY_DELAY_MS + 1, 86_400_000 * 10**9, 10**30, 1e300])
async def test_a_delay_past_the_cap_is_clamped_to_it_not_refused(
    db: asyncpg.Connection, world: World, retry_in_ms: float
) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")

    [row] = await record(db, [result(job, "w", success=False, retry_in_ms=retry_in_ms)])  # type: ignore[arg-type]

    wait_ms = await db.fetchval(
        "select extract(epoch from scheduled_at - now()) * 1000 from webhook_queue where id = $1", job["queue_id"])
    assert row["applied"] is True
    assert float(wait_ms) == pytest.approx(MAX_RETRY_DELAY_MS, abs=1000)
    assert await db.fetchval("select status::text from webhook_logs") == "retrying"
