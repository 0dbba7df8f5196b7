"""Retry timing as the database schedules it: the formula, Retry-After, and the log chain."""

from __future__ import annotations

import asyncpg
import pytest

from sidecar.store.direct import DirectStore
from tests.integration.support import insert_lead, make_rule, run_once, run_until
from tests.receiver import Receiver, reply

# The gap the database records between an attempt's log and the next attempt's
# scheduled time is the policy's delay minus the time from the attempt's end to the
# record call. That lag is milliseconds here; a generous bound keeps the test calm.
RECORD_LAG_BOUND_MS = 1000


async def scheduled_gap_ms(db: asyncpg.Connection) -> float:
    """Milliseconds between the latest attempt's log row and the delivery's next scheduled time."""
    return float(await db.fetchval(
        "select extract(epoch from q.scheduled_at - l.created_at) * 1000"
        " from webhook_queue q join webhook_logs l on l.id = q.webhook_log_id"))


async def make_due_now(db: asyncpg.Connection) -> None:
    """Stand in for waiting: the next attempt becomes due without the test sleeping."""
    await db.execute("update webhook_queue set scheduled_at = now() where status = 'pending'")


async def test_retries_follow_delay_times_multiplier_to_the_attempt_and_then_fail(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    url = receiver.script("/down", reply(500, "boom"))
    rule = await make_rule(db, url, retry_delay_ms=2000, retry_backoff_multiplier=3, max_retries=3)
    await insert_lead(db, rule.funnel_id)

    gaps = []
    for _ in range(3):
        await run_once(store)
        gaps.append(await scheduled_gap_ms(db))
        await make_due_now(db)
    await run_once(store)

    for gap, base in zip(gaps, (2000, 6000, 18000)):
        assert base - RECORD_LAG_BOUND_MS <= gap <= base * 1.10
    assert len(receiver.hits) == 4
    queue = await db.fetchrow("select status, attempt_number, error_message from webhook_queue")
    assert (queue["status"], queue["attempt_number"]) == ("failed", 4)
    assert queue["error_message"] == "HTTP 500: Internal Server Error"


async def test_each_retry_links_to_the_attempt_before_it(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    url = receiver.script("/flaky", reply(500), reply(502), reply(200))
    rule = await make_rule(db, url, retry_delay_ms=100, max_retries=3)
    await insert_lead(db, rule.funnel_id)

    for _ in range(3):
        await run_once(store)
        await make_due_now(db)

    logs = await db.fetch("select * from webhook_logs order by attempt_number")
    assert [r["status"] for r in logs] == ["retrying", "retrying", "success"]
    assert [r["error_type"] for r in logs] == ["http_error", "http_error", None]
    assert [r["is_retry"] for r in logs] == [False, True, True]
    assert [r["parent_log_id"] for r in logs] == [None, logs[0]["id"], logs[1]["id"]]
    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 1
    assert len({h.body for h in receiver.hits}) == 1
    assert await db.fetchval("select status from webhook_queue") == "completed"


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_a_minimum_for_the_next_attempt(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver, status: int
) -> None:
    url = receiver.script("/busy", reply(status, headers={"Retry-After": "7"}))
    rule = await make_rule(db, url, retry_delay_ms=100)
    await insert_lead(db, rule.funnel_id)

    await run_once(store)

    assert 7000 - RECORD_LAG_BOUND_MS <= await scheduled_gap_ms(db) <= 7000
    assert await db.fetchval("select status from webhook_queue") == "pending"


async def test_retry_after_shorter_than_the_backoff_does_not_shorten_it(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    url = receiver.script("/busy", reply(429, headers={"Retry-After": "1"}))
    rule = await make_rule(db, url, retry_delay_ms=5000)
    await insert_lead(db, rule.funnel_id)

    await run_once(store)

    assert 5000 - RECORD_LAG_BOUND_MS <= await scheduled_gap_ms(db) <= 5500


async def test_with_retries_off_one_failure_is_final(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    url = receiver.script("/down", reply(500))
    rule = await make_rule(db, url, retry_enabled=False)
    await insert_lead(db, rule.funnel_id)

    await run_once(store)

    assert await db.fetchval("select status from webhook_queue") == "failed"
    assert await db.fetchval("select status from webhook_logs") == "failed"
    assert len(receiver.hits) == 1


async def test_a_blocked_target_is_refused_once_and_never_retried(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    from sidecar.delivery.attempt import Deliverer
    from sidecar.worker.loop import Worker
    from tests.integration.support import options

    rule = await make_rule(db, receiver.url("/private"))
    await insert_lead(db, rule.funnel_id)

    async with Deliverer(allow_private_targets=False) as guarded:
        await Worker(store, guarded, options()).run(once=True)

    log = await db.fetchrow("select status, error_type from webhook_logs")
    assert (log["status"], log["error_type"]) == ("failed", "blocked")
    assert await db.fetchval("select status from webhook_queue") == "failed"
    assert receiver.hits == []


async def test_a_running_worker_makes_its_retry_when_due_not_at_the_next_poll(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    url = receiver.script("/once", reply(500), reply(200))
    rule = await make_rule(db, url, retry_delay_ms=300, max_retries=1)
    await insert_lead(db, rule.funnel_id)

    async def delivered() -> bool:
        return await db.fetchval("select status from webhook_queue") == "completed"

    # A poll interval far longer than the test's limit: only waking for the retry can finish it.
    await run_until(store, delivered, limit_s=10.0, poll_interval_s=60.0)

    first, second = await db.fetch("select created_at from webhook_logs order by attempt_number")
    assert len(receiver.hits) == 2
    # Far inside the 60 s poll interval; the slack is for a loaded machine, not the formula.
    assert (second["created_at"] - first["created_at"]).total_seconds() < 5.0
