"""Holds, pause, auto-pause, events, recover, cancel, test deliveries, secret overlap, rate at claim."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead, claim, record, result


async def _pause(db: asyncpg.Connection, rule: uuid.UUID, paused: bool = True) -> asyncpg.Record:
    return await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", rule,
                             json.dumps({"paused": paused}))


async def _configure(db: asyncpg.Connection, rule: uuid.UUID, **patch: object) -> asyncpg.Record:
    return await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", rule, json.dumps(patch))


async def _fail_once(db: asyncpg.Connection, world: World) -> list:
    """A delivery of rule A whose first attempt failed; its retry is due now."""
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w1")
    await record(db, [result(job, "w1", success=False, retry_in_ms=0)])
    return job


async def _finish(db: asyncpg.Connection, world: World, outcomes: list[bool]) -> None:
    """One delivery of rule A per outcome, each with a single attempt that succeeds or fails for good."""
    for ok in outcomes:
        await add_lead(db, world.funnel_a)
        jobs = [j for j in await claim(db, "w1") if j["routing_rule_id"] == world.rule_a]
        await record(db, [result(j, "w1", success=ok) for j in jobs])


# -- holds ---------------------------------------------------------------------------


@pytest.mark.parametrize("hold, release", [
    ("select update_webhook_config($1, '{\"paused\": true}')", "select update_webhook_config($1, '{\"paused\": false}')"),
    ("update routing_rules set is_active = false where id = $1", "update routing_rules set is_active = true where id = $1"),
    ("update funnels set status = 'paused' where id = (select funnel_id from routing_rules where id = $1)",
     "update funnels set status = 'active' where id = (select funnel_id from routing_rules where id = $1)"),
])
async def test_a_held_rules_pending_retry_is_not_claimed_and_continues_at_its_attempt_when_released(
    db: asyncpg.Connection, world: World, hold: str, release: str
) -> None:
    job = await _fail_once(db, world)
    await db.execute(hold, world.rule_a)

    assert await claim(db, "w2") == []
    row = await db.fetchrow("select status, held, attempt_number from webhook_queue where id = $1", job["queue_id"])
    assert (row["status"], row["held"], row["attempt_number"]) == ("pending", True, 2)

    await db.execute(release, world.rule_a)
    [again] = await claim(db, "w2")
    assert (again["queue_id"], again["attempt_number"]) == (job["queue_id"], 2)


async def test_new_leads_of_a_paused_rule_are_enqueued_held_and_other_rules_are_claimed(
    db: asyncpg.Connection, world: World
) -> None:
    await _pause(db, world.rule_a)
    await add_lead(db, world.funnel_a)
    await add_lead(db, world.funnel_b)

    jobs = await claim(db, "w1")

    assert [j["routing_rule_id"] for j in jobs] == [world.rule_b]
    held = await db.fetch("select * from webhook_queue where routing_rule_id = $1", world.rule_a)
    assert [(r["status"], r["held"]) for r in held] == [("pending", True)]


async def test_a_delivery_in_flight_when_its_rule_is_paused_is_held_when_its_retry_is_recorded(
    db: asyncpg.Connection, world: World
) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w1")
    await _pause(db, world.rule_a)
    await record(db, [result(job, "w1", success=False, retry_in_ms=0)])

    assert await claim(db, "w1") == []
    assert await db.fetchval("select held from webhook_queue where id = $1", job["queue_id"]) is True


async def test_a_replay_of_a_paused_rule_is_held_and_a_test_delivery_is_not(
    db: asyncpg.Connection, world: World
) -> None:
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w1")
    [logged] = await record(db, [result(job, "w1", success=True)])
    await _pause(db, world.rule_a)

    replay = await db.fetchval("select replay_webhook($1)", logged["log_id"])
    test = await db.fetchval("select send_test_webhook($1)", world.rule_a)
    jobs = await claim(db, "w1")

    assert [j["queue_id"] for j in jobs] == [test]
    assert await db.fetchval("select held from webhook_queue where id = $1", replay) is True
    payload = json.loads(jobs[0]["payload"])
    assert payload["type"] == "webhook.test" and payload["data"]["routing_rule_id"] == str(world.rule_a)
    [logged_test] = await record(db, [result(jobs[0], "w1", success=True)])
    log = await db.fetchrow("select lead_id, status, queue_id from webhook_logs where id = $1", logged_test["log_id"])
    assert (log["lead_id"], log["status"], log["queue_id"]) == (None, "success", test)


async def test_pausing_writes_rule_paused_and_resuming_rule_resumed_with_a_manual_reason(
    db: asyncpg.Connection, world: World
) -> None:
    paused = await _pause(db, world.rule_a)
    again = await _pause(db, world.rule_a)
    resumed = await _pause(db, world.rule_a, False)

    assert paused["paused_reason"] == "manual" and again["paused_at"] == paused["paused_at"]
    assert resumed["paused_at"] is None and resumed["paused_reason"] is None
    events = await db.fetch("select type, funnel_id from webhook_events order by created_at, type desc")
    assert [e["type"] for e in events] == ["rule.paused", "rule.resumed"]
    assert {e["funnel_id"] for e in events} == {world.funnel_a}


# -- auto-pause and events --------------------------------------------------------------


async def test_three_failed_deliveries_in_a_row_auto_pause_the_rule_with_events(
    db: asyncpg.Connection, world: World
) -> None:
    await _configure(db, world.rule_a, auto_pause_after_failures=3, max_retries=0)
    await _finish(db, world, [False, False])
    assert await db.fetchval("select paused_at from webhook_configs where routing_rule_id = $1", world.rule_a) is None

    await _finish(db, world, [False])

    config = await db.fetchrow("select * from webhook_configs where routing_rule_id = $1", world.rule_a)
    assert config["paused_at"] is not None
    assert config["paused_reason"].startswith("auto: 3 deliveries in a row failed since ")
    failed = await db.fetch("select * from webhook_events where type = 'delivery.failed' order by created_at")
    assert len(failed) == 3
    detail = json.loads(failed[-1]["detail"])
    last = await db.fetchrow("select * from webhook_queue where id = $1", uuid.UUID(detail["queue_id"]))
    assert detail["log_id"] == str(last["webhook_log_id"])
    assert (detail["error_type"], detail["error_message"]) == ("http_error", "HTTP 500: Internal Server Error")
    [paused] = await db.fetch("select * from webhook_events where type = 'rule.paused'")
    assert json.loads(paused["detail"])["reason"] == config["paused_reason"]
    await add_lead(db, world.funnel_a)
    assert await claim(db, "w1") == []


async def test_a_success_between_failures_resets_the_count(db: asyncpg.Connection, world: World) -> None:
    await _configure(db, world.rule_a, auto_pause_after_failures=3, max_retries=0)
    await _finish(db, world, [False, False, True, False, False])

    config = await db.fetchrow("select * from webhook_configs where routing_rule_id = $1", world.rule_a)
    assert config["paused_at"] is None and config["consecutive_failures"] == 2
    assert await db.fetchval("select count(*) from webhook_events where type = 'rule.paused'") == 0


async def test_a_blocked_delivery_counts_as_failed_and_a_retrying_attempt_does_not(
    db: asyncpg.Connection, world: World
) -> None:
    await _configure(db, world.rule_a, auto_pause_after_failures=2)
    await _fail_once(db, world)  # retrying: the delivery has not ended
    assert await db.fetchval("select consecutive_failures from webhook_configs where routing_rule_id = $1",
                             world.rule_a) == 0
    await add_lead(db, world.funnel_a)
    jobs = await claim(db, "w1")
    await record(db, [result(j, "w1", success=False, error_type="blocked", retry_in_ms=None) for j in jobs])

    config = await db.fetchrow("select * from webhook_configs where routing_rule_id = $1", world.rule_a)
    assert config["paused_reason"].startswith("auto: 2 deliveries in a row failed")


async def test_owners_read_only_their_own_events(db: asyncpg.Connection, world: World) -> None:
    await _pause(db, world.rule_a)
    await _pause(db, world.rule_b)

    async with acting_as(db, "authenticated", OWNER_B):
        seen_by_b = await db.fetch("select routing_rule_id from webhook_events")
    async with acting_as(db, "authenticated", OWNER_A):
        seen_by_a = await db.fetch("select routing_rule_id from webhook_events")
    async with acting_as(db, "anon"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.fetch("select * from webhook_events")

    assert [r["routing_rule_id"] for r in seen_by_b] == [world.rule_b]
    assert [r["routing_rule_id"] for r in seen_by_a] == [world.rule_a]


async def test_owners_cannot_write_events(db: asyncpg.Connection, world: World) -> None:
    async with acting_as(db, "authenticated", OWNER_A):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute("insert into webhook_events (routing_rule_id, type) values ($1, 'rule.paused')",
                             world.rule_a)


async def test_events_are_purged_with_the_logs(db: asyncpg.Connection, world: World) -> None:
    await _pause(db, world.rule_a)
    await db.execute("update webhook_events set created_at = now() - interval '31 days'")
    await _pause(db, world.rule_a, False)

    await db.execute("select purge_webhook_logs()")

    assert [r["type"] for r in await db.fetch("select type from webhook_events")] == ["rule.resumed"]


# -- recover and cancel -------------------------------------------------------------------


async def test_recover_twice_requeues_each_failed_delivery_once_and_skips_one_replayed_successfully(
    db: asyncpg.Connection, world: World
) -> None:
    await _configure(db, world.rule_a, max_retries=0)
    await _finish(db, world, [False, False, False])
    failed = await db.fetch("select * from webhook_queue where status = 'failed' order by created_at")
    replay = await db.fetchval("select replay_webhook($1)", failed[0]["webhook_log_id"])
    [job] = await claim(db, "w1")
    assert job["queue_id"] == replay
    await record(db, [result(job, "w1", success=True)])

    first = await db.fetchval("select recover_webhook_deliveries($1, now() - interval '1 hour')", world.rule_a)
    second = await db.fetchval("select recover_webhook_deliveries($1, now() - interval '1 hour')", world.rule_a)

    assert (first, second) == (2, 0)
    recovered = await db.fetch("select * from webhook_queue where status = 'pending' order by webhook_id")
    originals = sorted(failed[1:], key=lambda r: r["webhook_id"])
    assert [r["webhook_id"] for r in recovered] == [r["webhook_id"] for r in originals]
    assert [r["payload"] for r in recovered] == [r["payload"] for r in originals]
    assert [r["parent_log_id"] for r in recovered] == [r["webhook_log_id"] for r in originals]


async def test_recover_keeps_to_the_time_range_and_the_rule(db: asyncpg.Connection, world: World) -> None:
    await _configure(db, world.rule_a, max_retries=0)
    await _finish(db, world, [False])

    assert await db.fetchval("select recover_webhook_deliveries($1, now() - interval '1 hour', now() - interval '30 minutes')",
                             world.rule_a) == 0
    assert await db.fetchval("select recover_webhook_deliveries($1, now() - interval '1 hour')", world.rule_b) == 0


async def test_cancel_ends_held_and_due_deliveries_failed_without_an_attempt_or_event(
    db: asyncpg.Connection, world: World
) -> None:
    await add_lead(db, world.funnel_a)
    await _pause(db, world.rule_a)
    await add_lead(db, world.funnel_a)
    await _pause(db, world.rule_a, False)
    await _pause(db, world.rule_a)  # both held now
    await add_lead(db, world.funnel_b)

    cancelled = await db.fetchval("select cancel_webhook_deliveries($1)", world.rule_a)

    assert cancelled == 2
    rows = await db.fetch("select status, error_message from webhook_queue where routing_rule_id = $1", world.rule_a)
    assert {(r["status"], r["error_message"]) for r in rows} == {("failed", "cancelled")}
    assert await db.fetchval("select count(*) from webhook_logs") == 0
    assert await db.fetchval("select count(*) from webhook_events where type = 'delivery.failed'") == 0
    assert await db.fetchval("select status from webhook_queue where routing_rule_id = $1", world.rule_b) == "pending"


@pytest.mark.parametrize("call", [
    "select recover_webhook_deliveries($1, now() - interval '1 day')",
    "select cancel_webhook_deliveries($1)",
    "select send_test_webhook($1)",
])
async def test_another_owners_rule_is_not_found(db: asyncpg.Connection, world: World, call: str) -> None:
    async with acting_as(db, "authenticated", OWNER_B):
        with pytest.raises(asyncpg.NoDataFoundError, match="not found"):
            await db.fetchval(call, world.rule_a)
    async with acting_as(db, "authenticated", OWNER_A):
        await db.fetchval(call, world.rule_a)


# -- config -------------------------------------------------------------------------------

BAD_VALUES = [
    ("paused", "yes"), ("paused", 1),
    ("auto_pause_after_failures", 0), ("auto_pause_after_failures", 10001), ("auto_pause_after_failures", -3),
    ("auto_pause_after_failures", 2.5), ("auto_pause_after_failures", "3"), ("auto_pause_after_failures", True),
    ("secret_overlap_hours", -1), ("secret_overlap_hours", 169), ("secret_overlap_hours", 1.5),
    ("secret_overlap_hours", "24"), ("secret_overlap_hours", False),
    ("max_requests_per_second", 0), ("max_requests_per_second", 0.05), ("max_requests_per_second", -1),
    ("max_requests_per_second", 10000.5), ("max_requests_per_second", "5"), ("max_requests_per_second", True),
    ("max_requests_per_second", {"per": "second"}),
]


@pytest.mark.parametrize("key, value", BAD_VALUES)
async def test_every_bad_value_of_the_new_keys_is_refused_naming_the_field(
    db: asyncpg.Connection, world: World, key: str, value: object
) -> None:
    with pytest.raises(asyncpg.PostgresError) as refused:
        await _configure(db, world.rule_a, **{key: value})
    assert key in str(refused.value)
    assert refused.value.sqlstate in ("22023", "23514")


async def test_good_values_of_the_new_keys_are_stored_and_null_restores_the_default(
    db: asyncpg.Connection, world: World
) -> None:
    row = await _configure(db, world.rule_a, auto_pause_after_failures=10000, secret_overlap_hours=0,
                           max_requests_per_second=0.1)
    assert (row["auto_pause_after_failures"], row["secret_overlap_hours"], float(row["max_requests_per_second"])) == (
        10000, 0, 0.1)
    row = await _configure(db, world.rule_a, auto_pause_after_failures=None, secret_overlap_hours=None,
                           max_requests_per_second=None)
    assert (row["auto_pause_after_failures"], row["secret_overlap_hours"], row["max_requests_per_second"]) == (
        None, 24, None)


# -- secret overlap -------------------------------------------------------------------------


async def test_a_rotated_secret_is_handed_out_as_previous_until_its_overlap_ends(
    db: asyncpg.Connection, world: World
) -> None:
    before = await _configure(db, world.rule_a, secret_overlap_hours=2)
    after = await _configure(db, world.rule_a, signing_secret=None)
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w1")
    assert (job["signing_secret"], job["previous_signing_secret"]) == (after["signing_secret"], before["signing_secret"])
    expires = after["previous_secret_expires_at"]
    assert 7190 < (expires - after["updated_at"]).total_seconds() <= 7200

    await db.execute("update webhook_configs set previous_secret_expires_at = now() - interval '1 second'")
    await add_lead(db, world.funnel_a)
    [later] = await claim(db, "w1")
    assert later["previous_signing_secret"] is None


async def test_with_no_overlap_the_old_secret_stops_at_once(db: asyncpg.Connection, world: World) -> None:
    await _configure(db, world.rule_a, secret_overlap_hours=0)
    row = await _configure(db, world.rule_a, signing_secret=None)
    assert row["previous_signing_secret"] is None


# -- claim: given ids, rate --------------------------------------------------------------------


async def test_a_claim_with_queue_ids_takes_only_those(db: asyncpg.Connection, world: World) -> None:
    for _ in range(3):
        await add_lead(db, world.funnel_a)
    ids = [r["id"] for r in await db.fetch("select id from webhook_queue order by id")]

    jobs = await db.fetch("select * from claim_webhook_jobs('w1', 10, 30, $1)", [ids[1]])

    assert [j["queue_id"] for j in jobs] == [ids[1]]
    assert await db.fetchval("select count(*) from webhook_queue where status = 'pending'") == 2


async def test_a_rate_limited_rule_gets_a_seconds_worth_and_the_rest_waits_for_its_tokens(
    db: asyncpg.Connection, world: World
) -> None:
    await _configure(db, world.rule_a, max_requests_per_second=5)
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, 30)", world.funnel_a)
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, 10)", world.funnel_b)

    jobs = await claim(db, "w1", max_jobs=50)

    by_rule = [j["routing_rule_id"] for j in jobs]
    assert (by_rule.count(world.rule_a), by_rule.count(world.rule_b)) == (5, 10)
    # Put off from the claim's now(): the n-th extra delivery 0.2 s x n later.
    waits = await db.fetch(
        "select extract(epoch from scheduled_at - $2::timestamptz)::float8 as wait from webhook_queue"
        " where routing_rule_id = $1 and status = 'pending' order by scheduled_at", world.rule_a, jobs[0]["claimed_at"])
    assert [round(w["wait"], 3) for w in waits] == [round(0.2 * n, 3) for n in range(1, 26)]
    # None of them is due at the claim's time: the claim moved them out of the due range.
    assert await db.fetchval("select count(*) from webhook_queue where routing_rule_id = $1 and status = 'pending'"
                             " and scheduled_at <= $2", world.rule_a, jobs[0]["claimed_at"]) == 0


async def test_a_put_off_delivery_starts_at_its_time_without_another_token(db: asyncpg.Connection, world: World) -> None:
    await _configure(db, world.rule_a, max_requests_per_second=1)
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, 2)", world.funnel_a)
    [first] = await claim(db, "w1")
    await db.execute("update webhook_queue set scheduled_at = now() where status = 'pending'")

    [second] = await claim(db, "w1")

    assert second["queue_id"] != first["queue_id"]
    assert await db.fetchval("select tokens from webhook_rate_buckets") == pytest.approx(-1.0, abs=0.01)
