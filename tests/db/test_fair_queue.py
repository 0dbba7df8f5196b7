"""One tenant cannot get ahead of the others, rotate a secret by accident, or add triggers to shared tables."""

from __future__ import annotations

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead, claim, record, result

TABLES = ["funnels", "routing_rules", "leads", "webhook_configs", "webhook_logs", "webhook_queue",
          "api_keys", "api_rate_limit_log", "webhook_settings", "webhook_stats_hourly"]


async def _enqueue(db: asyncpg.Connection, lead, rule, priority: int = 0):
    return await db.fetchval("select enqueue_webhook($1, $2, $3)", lead, rule, priority)


@pytest.mark.parametrize("priority", [2147483647, 101, -101, -2147483648])
async def test_an_owner_cannot_choose_a_priority_outside_minus_100_to_100(
        db: asyncpg.Connection, world: World, priority: int) -> None:
    lead = await add_lead(db, world.funnel_a)
    with pytest.raises(asyncpg.InvalidParameterValueError, match="priority must be between -100 and 100") as caught:
        async with acting_as(db, "authenticated", OWNER_A):
            await _enqueue(db, lead, world.rule_a, priority)
    assert caught.value.column_name == "priority"
    with pytest.raises(asyncpg.InvalidParameterValueError, match="priority must be between -100 and 100"):
        async with acting_as(db, "service_role"):
            await _enqueue(db, lead, world.rule_a, priority)


async def test_a_replay_runs_ahead_of_the_highest_priority_an_enqueue_may_ask_for(
        db: asyncpg.Connection, world: World) -> None:
    lead = await add_lead(db, world.funnel_a)
    await db.execute("delete from webhook_queue")
    first = await _enqueue(db, lead, world.rule_a)
    [job] = await claim(db, "w")
    [log] = await record(db, [result(job, "w", success=True)])
    async with acting_as(db, "authenticated", OWNER_A):
        top = await _enqueue(db, lead, world.rule_a, 100)
        replay = await db.fetchval("select replay_webhook($1)", log["log_id"])
    priorities = dict(await db.fetch("select id, priority from webhook_queue where id <> $1", first))
    assert priorities == {top: 100, replay: 1000}
    assert [j["queue_id"] for j in await claim(db, "w")] == [replay, top]


async def test_pending_deliveries_made_by_hand_are_limited_per_owner(db: asyncpg.Connection, world: World) -> None:
    lead_a = await add_lead(db, world.funnel_a)
    lead_b = await add_lead(db, world.funnel_b)
    async with acting_as(db, "authenticated", OWNER_A):
        await _enqueue(db, lead_a, world.rule_a)
    await db.execute(
        "insert into webhook_queue (lead_id, routing_rule_id, attempt_number, max_attempts, scheduled_at,"
        " payload, enqueued_by) select $1, $2, 1, 1, now(), '{}', $3 from generate_series(1, 999)",
        lead_a, world.rule_a, OWNER_A)
    with pytest.raises(asyncpg.RaiseError,
                       match="too many deliveries enqueued by hand: 1000 are pending, the limit is 1000 per owner"):
        async with acting_as(db, "authenticated", OWNER_A):
            await _enqueue(db, lead_a, world.rule_a)
    async with acting_as(db, "authenticated", OWNER_B):
        assert await _enqueue(db, lead_b, world.rule_b) is not None
    assert await _enqueue(db, lead_a, world.rule_a) is not None  # service_role and Studio are not counted
    by_owner = dict(await db.fetch("select enqueued_by, count(*) from webhook_queue group by 1"))
    assert by_owner == {OWNER_A: 1000, OWNER_B: 1, None: 3}  # lead inserts and Studio: the system's


async def test_a_test_delivery_takes_the_replays_priority_and_counts_against_the_owners_limit(
        db: asyncpg.Connection, world: World) -> None:
    await db.execute("delete from webhook_queue")
    async with acting_as(db, "authenticated", OWNER_A):
        test = await db.fetchval("select send_test_webhook($1)", world.rule_a)
    assert await db.fetchrow("select priority, enqueued_by from webhook_queue where id = $1", test) == (1000, OWNER_A)
    lead = await add_lead(db, world.funnel_a)  # its own delivery, the system's, stays at 0
    await db.execute(
        "insert into webhook_queue (lead_id, routing_rule_id, attempt_number, max_attempts, scheduled_at,"
        " payload, enqueued_by) select $1, $2, 1, 1, now(), '{}', $3 from generate_series(1, 999)",
        lead, world.rule_a, OWNER_A)
    with pytest.raises(asyncpg.RaiseError, match="too many deliveries enqueued by hand: 1000 are pending"):
        async with acting_as(db, "authenticated", OWNER_A):
            await db.fetchval("select send_test_webhook($1)", world.rule_a)


async def test_an_owner_cannot_delete_a_config_so_its_secret_is_never_silently_replaced(
        db: asyncpg.Connection, world: World) -> None:
    await db.execute("insert into webhook_configs (routing_rule_id) values ($1)", world.rule_a)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with acting_as(db, "authenticated", OWNER_A):
            await db.execute("delete from webhook_configs where routing_rule_id = $1", world.rule_a)
    assert await db.fetchval("select count(*) from webhook_configs where routing_rule_id = $1", world.rule_a) == 1


@pytest.mark.parametrize("role", ["anon", "authenticated"])
async def test_api_roles_cannot_add_triggers_truncate_or_reference_the_tables(
        db: asyncpg.Connection, role: str) -> None:
    held = [(table, privilege) for table in TABLES for privilege in ("TRIGGER", "TRUNCATE", "REFERENCES")
            if await db.fetchval("select has_table_privilege($1, $2, $3)", role, f"public.{table}", privilege)]
    assert held == []


async def test_a_user_has_at_most_100_active_api_keys(db: asyncpg.Connection, world: World) -> None:
    async with acting_as(db, "authenticated", OWNER_A):
        for n in range(100):
            await db.fetchval("select create_api_key($1, '{webhooks:read}')", f"key {n}")
        with pytest.raises(asyncpg.RaiseError, match="too many active API keys: you have 100, the limit is 100"):
            await db.fetchval("select create_api_key('one more', '{webhooks:read}')")
    async with acting_as(db, "authenticated", OWNER_B):
        assert (await db.fetchval("select create_api_key('b', '{webhooks:read}')")).startswith("bpc_")
    await db.execute("update api_keys set revoked_at = now() where name = 'key 0'")
    async with acting_as(db, "authenticated", OWNER_A):
        assert (await db.fetchval("select create_api_key('one more', '{webhooks:read}')")).startswith("bpc_")
