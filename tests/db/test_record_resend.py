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
