"""record_webhook_attempts sent again with the same log_id (its first reply was lost) changes nothing."""

from __future__ import annotations

import uuid

import asyncpg

from tests.db.conftest import World, add_lead, claim, record, result


async def test_a_resent_result_is_not_logged_twice_and_moves_nothing(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")
    sent = {**result(job, "w", success=False, retry_in_ms=60_000), "log_id": str(uuid.uuid4())}

    [first] = await record(db, [sent])
    queue_after_first = await db.fetchrow("select * from webhook_queue where id = $1", job["queue_id"])
    [again] = await record(db, [sent])

    assert (first["applied"], str(first["log_id"])) == (True, sent["log_id"])
    assert (again["applied"], again["log_id"]) == (False, first["log_id"])
    assert await db.fetchval("select count(*) from webhook_logs") == 1
    assert await db.fetchrow("select * from webhook_queue where id = $1", job["queue_id"]) == queue_after_first


async def test_results_without_log_id_are_still_recorded(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")

    [row] = await record(db, [result(job, "w", success=True)])

    assert row["applied"] is True and row["log_id"] is not None


async def test_a_first_send_is_recorded_and_its_resend_without_the_mark_changes_nothing(
    db: asyncpg.Connection, world: World
) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")
    first = {**result(job, "w", success=True), "log_id": str(uuid.uuid4()), "first_send": True}
    resend = {key: value for key, value in first.items() if key != "first_send"}

    [recorded] = await record(db, [first])
    queue_after_first = await db.fetchrow("select * from webhook_queue where id = $1", job["queue_id"])
    [again] = await record(db, [resend])

    assert (recorded["applied"], str(recorded["log_id"])) == (True, first["log_id"])
    assert queue_after_first["status"] == "completed"
    assert (again["applied"], again["log_id"]) == (False, recorded["log_id"])
    assert await db.fetchval("select count(*) from webhook_logs") == 1
    assert await db.fetchrow("select * from webhook_queue where id = $1", job["queue_id"]) == queue_after_first


async def _lose_lease(db: asyncpg.Connection, queue_id: uuid.UUID) -> None:
    await db.execute("update webhook_queue set lease_expires_at = now() - interval '1 second' where id = $1",
                     queue_id)
    await db.execute("select requeue_stale_webhook_jobs()")


async def test_an_unmarked_resend_is_looked_up_even_where_it_would_otherwise_end_duplicate_work(
    db: asyncpg.Connection, world: World
) -> None:
    # A late success is logged without changing the queue; once the delivery is back in
    # pending at that attempt, the same success sent again would complete it, unless the
    # database finds its log_id. Marked as a first send, it skips that lookup.
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")
    await _lose_lease(db, job["queue_id"])
    await claim(db, "w2")
    late = {**result(job, "w", success=True), "log_id": str(uuid.uuid4())}
    [logged] = await record(db, [{**late, "first_send": True}])
    await _lose_lease(db, job["queue_id"])

    [unmarked] = await record(db, [late])
    still_pending = await db.fetchval("select status from webhook_queue where id = $1", job["queue_id"])
    [marked] = await record(db, [{**late, "first_send": True}])

    assert logged["applied"] is False
    assert (unmarked["applied"], still_pending) == (False, "pending")
    assert marked["applied"] is True
    assert await db.fetchval("select count(*) from webhook_logs") == 1
