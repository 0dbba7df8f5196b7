"""record_webhook_attempts applies the sidecar's status, refuses an impossible one, and says what it wrote."""

from __future__ import annotations

import time
import uuid

import asyncpg
import pytest

from sidecar.domain import AttemptResult, ErrorType, Outcome
from sidecar.store import job_from_row, result_element
from sidecar.worker.decide import decide
from tests.db.conftest import World, add_lead, claim, record, result


async def _one_job(db: asyncpg.Connection, world: World, max_attempts: int | None = None):
    await add_lead(db, world.funnel_a)
    if max_attempts is not None:
        await db.execute("update webhook_queue set max_attempts = $1", max_attempts)
    [job] = await claim(db, "w")
    return job


async def _log(db: asyncpg.Connection, log_id: uuid.UUID) -> asyncpg.Record:
    return await db.fetchrow("select status::text, error_message from webhook_logs where id = $1", log_id)


async def _queue(db: asyncpg.Connection, queue_id: uuid.UUID) -> asyncpg.Record:
    return await db.fetchrow("select status::text, attempt_number, error_message from webhook_queue where id = $1",
                             queue_id)


@pytest.mark.parametrize(("element", "reason"), [
    ({"success": False, "retry_in_ms": 1000, "status": "retrying", "attempt_number": 3},
     "the sidecar asked for retrying past max_attempts (attempt 3 of 3)"),
    ({"success": False, "retry_in_ms": 1000, "status": "retrying", "error_type": "blocked"},
     "the sidecar asked for retrying a blocked attempt"),
    ({"success": False, "retry_in_ms": None, "status": "retrying"},
     "the sidecar asked for retrying without retry_in_ms"),
    ({"success": False, "status": "success"},
     "the sidecar asked for success for an attempt that did not succeed"),
    ({"success": True, "retry_in_ms": 1000, "status": "retrying"},
     "the sidecar asked for retrying after a success"),
    ({"success": True, "status": "failed"},
     "the sidecar asked for failed after a success"),
    ({"success": False, "retry_in_ms": 1000, "status": "later"},
     "the sidecar asked for later, which is not a status (success, retrying or failed)"),
])
async def test_an_impossible_status_is_refused_and_the_attempt_logged_failed_with_the_reason(
    db: asyncpg.Connection, world: World, element: dict, reason: str
) -> None:
    job = await _one_job(db, world, max_attempts=3)
    attempt = element.pop("attempt_number", 1)
    await db.execute("update webhook_queue set attempt_number = $1", attempt)
    sent = {**result(job, "w", success=element.pop("success"), error_type=element.pop("error_type", None),
                     attempt_number=attempt), **element}

    [row] = await record(db, [sent])

    log = await _log(db, row["log_id"])
    assert (row["applied"], row["status"], log["status"]) == (True, "failed", "failed")
    assert log["error_message"].endswith(reason)
    assert (await _queue(db, job["queue_id"]))["status"] == "failed"


async def test_a_refused_element_does_not_fail_the_rest_of_the_batch(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a)
    await add_lead(db, world.funnel_a)
    good, bad = await claim(db, "w")

    rows = await record(db, [{**result(good, "w", success=False, retry_in_ms=1000), "status": "retrying"},
                             {**result(bad, "w", success=False), "status": "success"}])

    assert [(r["queue_id"], r["status"]) for r in rows] == [(good["queue_id"], "retrying"),
                                                            (bad["queue_id"], "failed")]
    assert (await _queue(db, good["queue_id"]))[:2] == ("pending", 2)
    assert await db.fetchval("select count(*) from webhook_logs") == 2


@pytest.mark.parametrize(("success", "retry_in_ms", "status", "queue_status"), [
    (True, None, "success", "completed"),
    (False, 1000, "retrying", "pending"),
    (False, None, "failed", "failed"),
    # The sidecar's verdict wins over what the old rules would decide from retry_in_ms.
    (False, 1000, "failed", "failed"),
])
async def test_a_possible_status_is_applied_and_returned(
    db: asyncpg.Connection, world: World, success: bool, retry_in_ms: int | None, status: str, queue_status: str
) -> None:
    job = await _one_job(db, world)

    [row] = await record(db, [{**result(job, "w", success=success, retry_in_ms=retry_in_ms), "status": status}])

    log = await _log(db, row["log_id"])
    assert (row["applied"], row["status"], log["status"]) == (True, status, status)
    assert log["error_message"] == (None if success else "HTTP 500: Internal Server Error")
    assert (await _queue(db, job["queue_id"]))["status"] == queue_status


@pytest.mark.parametrize(("success", "retry_in_ms", "attempt", "logged"), [
    (True, None, 1, "success"),
    (False, 1000, 1, "retrying"),
    (False, None, 1, "failed"),
    (False, 1000, 3, "failed"),  # the old rules: never a retry past max_attempts
])
async def test_an_element_without_status_gets_the_old_verdict(
    db: asyncpg.Connection, world: World, success: bool, retry_in_ms: int | None, attempt: int, logged: str
) -> None:
    job = await _one_job(db, world, max_attempts=3)
    await db.execute("update webhook_queue set attempt_number = $1", attempt)

    [row] = await record(db, [result(job, "w", success=success, retry_in_ms=retry_in_ms, attempt_number=attempt)])

    log = await _log(db, row["log_id"])
    assert (row["status"], log["status"]) == (logged, logged)
    assert log["error_message"] == (None if success else "HTTP 500: Internal Server Error")


async def test_a_late_retrying_result_is_logged_and_returned_failed(db: asyncpg.Connection, world: World) -> None:
    job = await _one_job(db, world)
    await db.execute("update webhook_queue set lease_expires_at = now() - interval '1 second'")
    await db.execute("select requeue_stale_webhook_jobs()")
    await claim(db, "other")

    [row] = await record(db, [{**result(job, "w", success=False, retry_in_ms=1000), "status": "retrying"}])

    assert (row["applied"], row["status"]) == (False, "failed")
    assert (await _log(db, row["log_id"]))["status"] == "failed"
    assert (await _queue(db, job["queue_id"]))["status"] == "processing"


async def test_a_resend_logs_once_and_returns_the_status_first_written(db: asyncpg.Connection, world: World) -> None:
    job = await _one_job(db, world)
    sent = {**result(job, "w", success=False, retry_in_ms=60_000), "status": "retrying",
            "log_id": str(uuid.uuid4())}

    [first] = await record(db, [{**sent, "first_send": True}])
    [again] = await record(db, [sent])

    assert (first["applied"], first["status"]) == (True, "retrying")
    assert (again["applied"], again["log_id"], again["status"]) == (False, first["log_id"], "retrying")
    assert await db.fetchval("select count(*) from webhook_logs") == 1


async def test_a_result_for_a_deleted_delivery_returns_no_status(db: asyncpg.Connection, world: World) -> None:
    job = await _one_job(db, world)
    await db.execute("delete from webhook_queue")

    [row] = await record(db, [{**result(job, "w", success=True), "status": "success"}])

    assert (row["log_id"], row["applied"], row["status"]) == (None, False, None)


def _outcome(error_type: ErrorType | None) -> Outcome:
    if error_type is None:
        return Outcome(request_headers={}, duration_ms=3, ended_at=time.monotonic(), status=200)
    return Outcome(request_headers={}, duration_ms=3, ended_at=time.monotonic(), status=None,
                   error_type=error_type, error_message=f"{error_type} error")


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize("error_type", [None, "http_error", "timeout", "network", "blocked"])
async def test_every_verdict_decide_gives_is_applied_as_given(
    db: asyncpg.Connection, world: World, attempt: int, error_type: ErrorType | None
) -> None:
    await add_lead(db, world.funnel_a)
    await db.execute("update webhook_queue set max_attempts = 3, attempt_number = $1", attempt)
    [row] = await claim(db, "w")
    job = job_from_row(row)
    outcome = _outcome(error_type)
    decision = decide(job, outcome)
    sent = AttemptResult(job, "w", outcome, decision.retry_in_ms, status=decision.status)

    [written] = await record(db, [result_element(sent)])

    assert written["status"] == decision.status
    assert await db.fetchval("select error_message from webhook_logs") == outcome.error_message
