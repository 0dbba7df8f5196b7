"""Lead inserts enqueue deliveries: set-based, frozen payload, one NOTIFY per statement."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_funnel, add_lead, add_rule


async def test_one_insert_of_10000_leads_matching_two_rules_enqueues_20000_deliveries(
    db: asyncpg.Connection, world: World
) -> None:
    await add_rule(db, world.funnel_a, {"country": "DE"})
    await add_rule(db, world.funnel_a, {"country": "FR"})  # matches none of them

    started = time.perf_counter()
    await db.execute(
        "insert into leads (funnel_id, data)"
        " select $1, jsonb_build_object('country', 'DE', 'n', g) from generate_series(1, 10000) g",
        world.funnel_a,
    )
    elapsed = time.perf_counter() - started
    print(f"\n10,000-lead insert enqueuing 20,000 deliveries: {elapsed * 1000:.0f} ms")

    assert await db.fetchval("select count(*) from webhook_queue") == 20000
    per_rule = await db.fetch("select routing_rule_id, count(*) as n from webhook_queue group by 1")
    assert sorted(r["n"] for r in per_rule) == [10000, 10000]
    assert await db.fetchval("select count(distinct lead_id) from webhook_queue") == 10000
    assert await db.fetchval("select bool_and(webhook_id = id and status = 'pending' and attempt_number = 1)"
                             " from webhook_queue")


async def test_the_lead_trigger_is_statement_level_with_a_transition_table(db: asyncpg.Connection) -> None:
    row = await db.fetchrow(
        "select tgtype, tgnewtable from pg_trigger where tgrelid = 'public.leads'::regclass"
        " and tgname = 'leads_enqueue_webhooks'"
    )
    assert row is not None
    assert row["tgtype"] & 1 == 0, "must be FOR EACH STATEMENT"
    assert row["tgnewtable"] == "new_leads"


async def test_payload_is_frozen_at_enqueue_in_the_documented_shape(db: asyncpg.Connection, world: World) -> None:
    lead = await add_lead(db, world.funnel_a, {"email": "x@example.com", "country": "DE"})
    row = await db.fetchrow("select * from webhook_queue where lead_id = $1", lead)
    payload = json.loads(row["payload"])
    assert list(payload) == ["data", "type", "timestamp"]  # jsonb's stored key order
    assert payload["type"] == "lead.created"
    created_at = await db.fetchval("select to_jsonb(created_at) #>> '{}' from leads where id = $1", lead)
    assert payload["data"] == {
        "lead_id": str(lead),
        "funnel_id": str(world.funnel_a),
        "routing_rule_id": str(world.rule_a),
        "client_name": "Client",
        "lead": {"email": "x@example.com", "country": "DE"},
        "created_at": created_at,
    }
    assert payload["timestamp"].endswith("+00:00")

    await db.execute("update leads set data = '{\"changed\": true}' where id = $1", lead)
    await db.execute("update routing_rules set client_name = 'Renamed' where id = $1", world.rule_a)
    assert await db.fetchval("select payload from webhook_queue where id = $1", row["id"]) == row["payload"]


async def test_only_active_rules_of_active_funnels_whose_condition_matches_get_a_delivery(
    db: asyncpg.Connection, world: World
) -> None:
    de_rule = await add_rule(db, world.funnel_a, {"country": "DE", "tags": ["vip"]})
    await add_rule(db, world.funnel_a, {"country": "FR"})
    await add_rule(db, world.funnel_a, {}, active=False)
    paused = await add_funnel(db, OWNER_A, status="paused")
    await add_rule(db, paused)

    await db.execute(
        "insert into leads (funnel_id, data) values ($1, $3), ($1, $4), ($2, '{}')",
        world.funnel_a, paused,
        json.dumps({"country": "DE", "tags": ["vip", "new"]}), json.dumps({"country": "DE"}),
    )
    rows = await db.fetch("select routing_rule_id, count(*) as n from webhook_queue group by 1")
    assert {r["routing_rule_id"]: r["n"] for r in rows} == {world.rule_a: 2, de_rule: 1}


async def test_max_attempts_comes_from_the_config_or_the_defaults(db: asyncpg.Connection, world: World) -> None:
    no_retry = await add_rule(db, world.funnel_a, {"kind": "no-retry"})
    five = await add_rule(db, world.funnel_a, {"kind": "five"})
    await db.execute("insert into webhook_configs (routing_rule_id, retry_enabled) values ($1, false)", no_retry)
    await db.execute("insert into webhook_configs (routing_rule_id, max_retries) values ($1, 5)", five)
    await add_lead(db, world.funnel_a, {"kind": "no-retry"})
    await add_lead(db, world.funnel_a, {"kind": "five"})
    rows = await db.fetch("select routing_rule_id, max_attempts from webhook_queue")
    got = {}
    for r in rows:
        got.setdefault(r["routing_rule_id"], set()).add(r["max_attempts"])
    assert got == {world.rule_a: {4}, no_retry: {1}, five: {6}}


async def test_enqueue_creates_missing_configs_with_a_fresh_signing_secret(
    db: asyncpg.Connection, world: World
) -> None:
    second = await add_rule(db, world.funnel_a)
    await add_lead(db, world.funnel_a)
    secrets = await db.fetch("select signing_secret from webhook_configs where routing_rule_id = any($1::uuid[])",
                             [world.rule_a, second])
    assert len(secrets) == 2
    assert all(s["signing_secret"].startswith("whsec_") and len(s["signing_secret"]) > 40 for s in secrets)
    assert secrets[0]["signing_secret"] != secrets[1]["signing_secret"]


async def test_one_notify_per_statement(db_dsn: str, db: asyncpg.Connection, world: World) -> None:
    listener = await asyncpg.connect(db_dsn)
    got: list[str] = []
    try:
        await listener.add_listener("webhook_jobs", lambda *args: got.append(args[3]))
        await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, 50)", world.funnel_a)
        await db.execute("insert into leads (funnel_id) values ($1)", world.funnel_b)
        await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, 5)",
                         await add_funnel(db, OWNER_A, status="draft"))  # nothing to deliver: no wake-up
        for _ in range(50):
            if len(got) >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    finally:
        await listener.close()
    assert got == ["", ""]


async def test_enqueue_webhook_by_the_owner_adds_a_delivery_with_its_priority(
    db: asyncpg.Connection, world: World
) -> None:
    lead = await add_lead(db, world.funnel_a)
    async with acting_as(db, "authenticated", OWNER_A):
        new_id = await db.fetchval("select enqueue_webhook($1, $2, 5)", lead, world.rule_a)
    row = await db.fetchrow("select * from webhook_queue where id = $1", new_id)
    assert row["priority"] == 5 and row["webhook_id"] == new_id and row["status"] == "pending"
    assert row["max_attempts"] == 4
    assert json.loads(row["payload"])["data"]["lead_id"] == str(lead)


async def test_enqueue_webhook_refuses_another_owners_rule_or_lead_as_not_found(
    db: asyncpg.Connection, world: World
) -> None:
    lead_a = await add_lead(db, world.funnel_a)
    lead_b = await add_lead(db, world.funnel_b)
    with pytest.raises(asyncpg.NoDataFoundError, match="routing rule .* not found"):
        async with acting_as(db, "authenticated", OWNER_B):
            await db.fetchval("select enqueue_webhook($1, $2)", lead_a, world.rule_a)
    # B's own rule with A's lead: the lead is not in B's funnel.
    with pytest.raises(asyncpg.NoDataFoundError, match="lead .* not found"):
        async with acting_as(db, "authenticated", OWNER_B):
            await db.fetchval("select enqueue_webhook($1, $2)", lead_a, world.rule_b)
    async with acting_as(db, "service_role"):
        assert await db.fetchval("select enqueue_webhook($1, $2)", lead_b, world.rule_b) is not None
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with acting_as(db, "anon"):
            await db.fetchval("select enqueue_webhook($1, $2)", lead_a, world.rule_a)
