"""The attempt chain (is_retry, parent_log_id, attempt_number, status) and replays."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead, claim, record, result


async def _due_now(db: asyncpg.Connection) -> None:
    await db.execute("update webhook_queue set scheduled_at = now() where status = 'pending'")


async def _attempt(db: asyncpg.Connection, *, success: bool, retry_in_ms: int | None = 0,
                   error_type: str | None = None) -> asyncpg.Record:
    await _due_now(db)
    [job] = await claim(db, "w", max_jobs=1)
    [row] = await record(db, [result(job, "w", success=success, retry_in_ms=retry_in_ms, error_type=error_type)])
    assert row["applied"] is True
    return await db.fetchrow("select * from webhook_logs where id = $1", row["log_id"])


async def test_failed_attempts_retry_until_max_attempts_then_fail(db: asyncpg.Connection, world: World) -> None:
    await db.execute("insert into webhook_configs (routing_rule_id, max_retries) values ($1, 2)", world.rule_a)
    await add_lead(db, world.funnel_a)
    logs = [await _attempt(db, success=False, retry_in_ms=1000) for _ in range(3)]

    assert [log["attempt_number"] for log in logs] == [1, 2, 3]
    assert [log["status"] for log in logs] == ["retrying", "retrying", "failed"]
    assert [log["is_retry"] for log in logs] == [False, True, True]
    assert [log["parent_log_id"] for log in logs] == [None, logs[0]["id"], logs[1]["id"]]
    assert all(log["max_attempts"] == 3 for log in logs)
    assert all(log["error_type"] == "http_error" and log["response_status"] == 500 for log in logs)
    assert len({log["request_body"] for log in logs}) == 1

    queue = await db.fetchrow("select * from webhook_queue")
    assert queue["status"] == "failed" and queue["attempt_number"] == 3
    assert queue["webhook_log_id"] == logs[2]["id"] and queue["completed_at"] is not None
    assert queue["error_message"] == "HTTP 500: Internal Server Error"


async def test_a_retry_is_scheduled_retry_in_ms_after_the_call(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")
    async with db.transaction():  # one clock for the call and the check
        await record(db, [result(job, "w", success=False, retry_in_ms=4000)])
        row = await db.fetchrow("select status, attempt_number, scheduled_at - now() as wait, locked_by"
                                " from webhook_queue")
    assert row["status"] == "pending" and row["attempt_number"] == 2 and row["locked_by"] is None
    assert row["wait"].total_seconds() == 4.0
    assert await claim(db, "w") == []  # not due yet


async def test_success_after_a_failure_completes_the_delivery(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    first = await _attempt(db, success=False)
    second = await _attempt(db, success=True)
    assert (second["status"], second["is_retry"], second["parent_log_id"]) == ("success", True, first["id"])
    assert second["error_type"] is None and second["error_message"] is None
    queue = await db.fetchrow("select * from webhook_queue")
    assert queue["status"] == "completed" and queue["webhook_log_id"] == second["id"]
    assert queue["error_message"] is None


async def test_the_database_refuses_to_retry_blocked_or_final_attempts(db: asyncpg.Connection,
                                                                     world: World) -> None:
    await add_lead(db, world.funnel_a)
    blocked = await _attempt(db, success=False, retry_in_ms=1000, error_type="blocked")
    assert blocked["status"] == "failed"
    assert await db.fetchval("select status from webhook_queue") == "failed"

    await add_lead(db, world.funnel_a)
    final = await _attempt(db, success=False, retry_in_ms=None)
    assert final["status"] == "failed"
    assert await db.fetchval("select count(*) from webhook_queue where status = 'failed'") == 2


async def test_retry_off_means_a_single_attempt(db: asyncpg.Connection, world: World) -> None:
    await db.execute("insert into webhook_configs (routing_rule_id, retry_enabled) values ($1, false)",
                     world.rule_a)
    await add_lead(db, world.funnel_a)
    log = await _attempt(db, success=False, retry_in_ms=1000)
    assert (log["status"], log["max_attempts"]) == ("failed", 1)


async def _replay(db: asyncpg.Connection, log_id: uuid.UUID) -> uuid.UUID:
    return await db.fetchval("select replay_webhook($1)", log_id)


async def test_replay_chain_keeps_the_webhook_id_and_links_to_the_replayed_log(
    db: asyncpg.Connection, world: World
) -> None:
    await add_lead(db, world.funnel_a)
    original = await db.fetchrow("select * from webhook_queue")
    first_log = await _attempt(db, success=True)

    await db.execute("update webhook_configs set max_retries = 1 where routing_rule_id = $1", world.rule_a)
    replay_id = await _replay(db, first_log["id"])
    replay = await db.fetchrow("select * from webhook_queue where id = $1", replay_id)
    assert replay["webhook_id"] == original["id"]
    assert replay["parent_log_id"] == first_log["id"]
    assert replay["payload"] == original["payload"]
    assert replay["max_attempts"] == 2  # the config as it is now
    assert (replay["status"], replay["attempt_number"]) == ("pending", 1)

    replay_log = await _attempt(db, success=True)
    assert replay_log["queue_id"] == replay_id
    assert (replay_log["is_retry"], replay_log["parent_log_id"]) == (True, first_log["id"])
    assert replay_log["webhook_id"] == original["id"]

    # A replay of the replay still carries the first delivery's webhook-id.
    again_id = await _replay(db, replay_log["id"])
    again = await db.fetchrow("select * from webhook_queue where id = $1", again_id)
    assert again["webhook_id"] == original["id"] and again["parent_log_id"] == replay_log["id"]
    assert again["payload"] == original["payload"]
    [job] = await claim(db, "w")
    assert job["queue_id"] == again_id and job["webhook_id"] == original["id"]
    assert json.loads(job["payload"]) == json.loads(original["payload"])


async def test_a_replay_goes_ahead_of_pending_work(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    log = await _attempt(db, success=False, retry_in_ms=None)
    await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, 5)", world.funnel_a)
    await db.execute("update webhook_queue set priority = 50, scheduled_at = now() - interval '1 hour'"
                     " where status = 'pending'")
    replay_id = await _replay(db, log["id"])
    [first] = await claim(db, "w", max_jobs=1)
    assert first["queue_id"] == replay_id


async def test_replay_by_owners_is_limited_to_their_own_logs(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    log = await _attempt(db, success=True)
    with pytest.raises(asyncpg.NoDataFoundError, match="not found"):
        async with acting_as(db, "authenticated", OWNER_B):
            await _replay(db, log["id"])
    with pytest.raises(asyncpg.NoDataFoundError, match="not found"):
        async with acting_as(db, "authenticated", OWNER_A):
            await _replay(db, uuid.uuid4())
    async with acting_as(db, "authenticated", OWNER_A):
        assert await _replay(db, log["id"]) is not None
    async with acting_as(db, "service_role"):
        assert await _replay(db, log["id"]) is not None
    assert await db.fetchval("select count(*) from webhook_queue where parent_log_id = $1", log["id"]) == 2
