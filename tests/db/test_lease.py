"""Expired leases, release, and results that arrive after the lease was lost."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.db.conftest import World, add_lead, claim, record, result


async def _one_claimed(db: asyncpg.Connection, world: World, worker: str = "old") -> asyncpg.Record:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, worker)
    return job


async def _expire(db: asyncpg.Connection, queue_id: uuid.UUID) -> None:
    await db.execute("update webhook_queue set lease_expires_at = now() - interval '1 second' where id = $1",
                     queue_id)


async def _queue(db: asyncpg.Connection, queue_id: uuid.UUID) -> asyncpg.Record:
    return await db.fetchrow("select * from webhook_queue where id = $1", queue_id)


async def test_an_expired_lease_returns_the_delivery_to_pending(db: asyncpg.Connection, world: World) -> None:
    job = await _one_claimed(db, world)
    assert await db.fetchval("select requeue_stale_webhook_jobs()") == 0  # lease still valid
    await _expire(db, job["queue_id"])
    assert await db.fetchval("select requeue_stale_webhook_jobs()") == 1
    row = await _queue(db, job["queue_id"])
    assert (row["status"], row["locked_by"], row["lease_expires_at"], row["attempt_number"]) == (
        "pending", None, None, 1)
    [again] = await claim(db, "new")
    assert again["queue_id"] == job["queue_id"] and again["webhook_id"] == job["webhook_id"]
    assert again["attempt_number"] == 1


async def test_claim_takes_an_expired_lease_itself(db: asyncpg.Connection, world: World) -> None:
    job = await _one_claimed(db, world)
    await _expire(db, job["queue_id"])
    [again] = await claim(db, "new")
    assert again["queue_id"] == job["queue_id"]
    assert (await _queue(db, job["queue_id"]))["locked_by"] == "new"


async def test_a_late_failure_while_another_worker_holds_the_delivery_leaves_it_alone(
    db: asyncpg.Connection, world: World
) -> None:
    job = await _one_claimed(db, world)
    await _expire(db, job["queue_id"])
    await claim(db, "new")
    before = await _queue(db, job["queue_id"])

    [row] = await record(db, [result(job, "old", success=False, retry_in_ms=1000)])
    assert row["applied"] is False and row["log_id"] is not None
    assert await _queue(db, job["queue_id"]) == before
    log = await db.fetchrow("select * from webhook_logs where id = $1", row["log_id"])
    assert log["status"] == "failed"  # never 'retrying': the late result scheduled nothing
    assert log["attempt_number"] == 1 and log["queue_id"] == job["queue_id"]

    # The current holder's result still applies normally.
    [current] = await record(db, [result(job, "new", success=True)])
    assert current["applied"] is True
    assert (await _queue(db, job["queue_id"]))["status"] == "completed"


async def test_a_late_success_for_a_delivery_back_in_pending_completes_it(
    db: asyncpg.Connection, world: World
) -> None:
    job = await _one_claimed(db, world)
    await _expire(db, job["queue_id"])
    await db.execute("select requeue_stale_webhook_jobs()")

    [row] = await record(db, [result(job, "old", success=True)])
    assert row["applied"] is True
    queue = await _queue(db, job["queue_id"])
    assert queue["status"] == "completed" and queue["webhook_log_id"] == row["log_id"]
    assert queue["completed_at"] is not None and queue["locked_by"] is None
    assert await claim(db, "new") == []  # no duplicate delivery


async def test_a_late_failure_for_a_delivery_back_in_pending_keeps_it_pending(
    db: asyncpg.Connection, world: World
) -> None:
    job = await _one_claimed(db, world)
    await _expire(db, job["queue_id"])
    await db.execute("select requeue_stale_webhook_jobs()")
    before = await _queue(db, job["queue_id"])

    [row] = await record(db, [result(job, "old", success=False, retry_in_ms=0)])
    assert row["applied"] is False
    assert await _queue(db, job["queue_id"]) == before
    assert await db.fetchval("select status from webhook_logs where id = $1", row["log_id"]) == "failed"


async def test_a_late_result_for_a_finished_delivery_is_logged_but_changes_nothing(
    db: asyncpg.Connection, world: World
) -> None:
    job = await _one_claimed(db, world)
    await _expire(db, job["queue_id"])
    await claim(db, "new")
    await record(db, [result(job, "new", success=True)])
    before = await _queue(db, job["queue_id"])

    [row] = await record(db, [result(job, "old", success=True)])
    assert row["applied"] is False
    assert await _queue(db, job["queue_id"]) == before
    assert await db.fetchval("select count(*) from webhook_logs where queue_id = $1", job["queue_id"]) == 2


async def test_a_result_for_an_unknown_delivery_is_reported_not_applied(db: asyncpg.Connection) -> None:
    fake = {"queue_id": str(uuid.uuid4()), "worker_id": "w", "attempt_number": 1, "webhook_url": "u",
            "success": True}
    [row] = await record(db, [fake])
    assert row["applied"] is False and row["log_id"] is None


async def test_release_returns_unattempted_claims_to_pending_in_their_place(
    db: asyncpg.Connection, world: World
) -> None:
    await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, 3)", world.funnel_a)
    jobs = await claim(db, "stopping")
    scheduled = {r["id"]: r["scheduled_at"] for r in await db.fetch("select id, scheduled_at from webhook_queue")}
    ids = [j["queue_id"] for j in jobs]
    assert await db.fetchval("select release_webhook_jobs($1::uuid[])", ids) == 3
    rows = await db.fetch("select * from webhook_queue")
    assert all(r["status"] == "pending" and r["locked_by"] is None and r["lease_expires_at"] is None for r in rows)
    assert {r["id"]: r["scheduled_at"] for r in rows} == scheduled
    assert await db.fetchval("select release_webhook_jobs($1::uuid[])", ids) == 0


async def test_a_lease_is_extended_only_for_the_worker_holding_it_and_never_shortened(
    db: asyncpg.Connection, world: World
) -> None:
    job = await _one_claimed(db, world, "old")
    ids = [job["queue_id"]]
    assert await db.fetch("select * from extend_webhook_leases('other', $1, 300)", ids) == []
    [row] = await db.fetch("select * from extend_webhook_leases('old', $1, 300)", ids)
    assert row["queue_id"] == job["queue_id"]
    left = "select extract(epoch from lease_expires_at - now()) from webhook_queue where id = $1"
    assert await db.fetchval(left, job["queue_id"]) > 290
    await db.fetch("select * from extend_webhook_leases('old', $1, 5)", ids)
    assert await db.fetchval(left, job["queue_id"]) > 290
    await _expire(db, job["queue_id"])
    assert await db.fetch("select * from extend_webhook_leases('old', $1, 300)", ids) == []


async def test_a_deferred_delivery_is_pending_and_not_due_until_its_delay_has_passed(
    db: asyncpg.Connection, world: World
) -> None:
    job = await _one_claimed(db, world, "old")
    ids = [job["queue_id"]]
    assert await db.fetchval("select defer_webhook_jobs('other', $1, 60000)", ids) == 0
    assert await db.fetchval("select defer_webhook_jobs('old', $1, 60000)", ids) == 1
    row = await _queue(db, job["queue_id"])
    assert (row["status"], row["locked_by"], row["attempt_number"]) == ("pending", None, 1)
    assert await claim(db, "new") == []
    await db.execute("update webhook_queue set scheduled_at = now() where id = $1", job["queue_id"])
    [again] = await claim(db, "new")
    assert again["webhook_id"] == job["webhook_id"]


async def test_bad_defer_and_extend_arguments_are_refused_naming_the_field(
    db: asyncpg.Connection, world: World
) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="delay_ms must be between"):
        await db.fetchval("select defer_webhook_jobs('w', '{}', -1)")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="lease_seconds must be between"):
        await db.fetch("select * from extend_webhook_leases('w', '{}', 0)")
