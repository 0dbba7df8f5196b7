"""The SQL behind HTTP API v1: one function per route, run as a signed-in owner or with a key."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead


async def _key(db: asyncpg.Connection, owner: uuid.UUID, scopes: list[str]) -> str:
    async with acting_as(db, "authenticated", owner):
        return await db.fetchval("select create_api_key('k', $1::text[])", scopes)


async def _log(db: asyncpg.Connection, world: World, status: str = "success", minutes_ago: int = 0) -> uuid.UUID:
    lead = await add_lead(db, world.funnel_a)
    return await db.fetchval(
        "insert into webhook_logs (lead_id, routing_rule_id, webhook_url, status, duration_ms, created_at)"
        " values ($1, $2, 'https://example.com/hook', $3, 12, now() - make_interval(mins => $4)) returning id",
        lead, world.rule_a, status, minutes_ago)


async def test_create_api_key_accepts_the_write_scope(db: asyncpg.Connection, world: World) -> None:
    key = await _key(db, OWNER_A, ["webhooks:read", "webhooks:write"])
    scopes = await db.fetchval("select scopes from api_keys where key_prefix = $1", key[:12])
    assert scopes == ["webhooks:read", "webhooks:write"]


async def test_an_unknown_scope_is_still_refused(db: asyncpg.Connection, world: World) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="webhooks:write"):
        await _key(db, OWNER_A, ["webhooks:admin"])


async def test_rules_are_the_callers_own_for_both_token_kinds(db: asyncpg.Connection, world: World) -> None:
    async with acting_as(db, "authenticated", OWNER_A):
        by_jwt = await db.fetch("select * from api_webhook_rules()")
    key = await _key(db, OWNER_B, ["webhooks:read"])
    async with acting_as(db, "anon", headers={"x-api-key": key}):
        by_key = await db.fetch("select * from api_webhook_rules()")
    assert [r["routing_rule_id"] for r in by_jwt] == [world.rule_a]
    assert [r["routing_rule_id"] for r in by_key] == [world.rule_b]
    assert by_jwt[0]["paused_at"] is None and by_jwt[0]["funnel_status"] == "active"


async def test_anon_without_a_key_is_refused_with_401(db: asyncpg.Connection, world: World) -> None:
    with pytest.raises(asyncpg.PostgresError) as caught:
        async with acting_as(db, "anon"):
            await db.fetch("select * from api_webhook_rules()")
    assert caught.value.sqlstate == "PGRST"
    assert json.loads(caught.value.detail)["status"] == 401


async def test_the_log_page_continues_below_its_cursor(db: asyncpg.Connection, world: World) -> None:
    ids = [await _log(db, world, minutes_ago=m) for m in range(5)]
    async with acting_as(db, "authenticated", OWNER_A):
        first = await db.fetch("select * from api_webhook_log_page($1, max_rows => 2)", world.rule_a)
        last = first[-1]
        rest = await db.fetch(
            "select * from api_webhook_log_page($1, max_rows => 10, before_created_at => $2, before_id => $3)",
            world.rule_a, last["created_at"], last["id"])
    assert [r["id"] for r in first + rest] == ids


async def test_another_owners_rule_is_404_for_the_log_page(db: asyncpg.Connection, world: World) -> None:
    with pytest.raises(asyncpg.PostgresError) as caught:
        async with acting_as(db, "authenticated", OWNER_B):
            await db.fetch("select * from api_webhook_log_page($1)", world.rule_a)
    assert json.loads(caught.value.detail)["status"] == 404


async def test_a_key_must_name_the_rule_of_the_logs(db: asyncpg.Connection, world: World) -> None:
    key = await _key(db, OWNER_A, ["webhooks:read"])
    with pytest.raises(asyncpg.PostgresError) as caught:
        async with acting_as(db, "anon", headers={"x-api-key": key}):
            await db.fetch("select * from api_webhook_log_page()")
    assert json.loads(caught.value.detail)["status"] == 400 and "routing_rule_id" in caught.value.message


async def test_config_writes_need_the_write_scope_and_name_the_refused_field(
    db: asyncpg.Connection, world: World
) -> None:
    read_only = await _key(db, OWNER_A, ["webhooks:read"])
    with pytest.raises(asyncpg.PostgresError) as caught:
        async with acting_as(db, "anon", headers={"x-api-key": read_only}):
            await db.fetchval("select api_update_webhook_config($1, '{\"timeout_ms\": 5000}')", world.rule_a)
    assert json.loads(caught.value.detail)["status"] == 403
    writer = await _key(db, OWNER_A, ["webhooks:write"])
    async with acting_as(db, "anon", headers={"x-api-key": writer}):
        config = json.loads(await db.fetchval(
            "select api_update_webhook_config($1, '{\"timeout_ms\": 5000}')", world.rule_a))
    assert config["timeout_ms"] == 5000 and config["signing_secret"].endswith("…")
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        async with acting_as(db, "authenticated", OWNER_A):
            await db.fetchval("select api_update_webhook_config($1, '{\"max_retries\": 99}')", world.rule_a)
    assert refused.value.column_name == "max_retries" and "max_retries" in refused.value.message


async def test_a_secret_change_is_answered_in_full_once(db: asyncpg.Connection, world: World) -> None:
    async with acting_as(db, "authenticated", OWNER_A):
        rotated = json.loads(await db.fetchval(
            "select api_update_webhook_config($1, '{\"signing_secret\": null}')", world.rule_a))
        shown = json.loads(await db.fetchval("select api_webhook_config($1)", world.rule_a))
    assert rotated["signing_secret"].startswith("whsec_") and len(rotated["signing_secret"]) > 40
    assert shown["signing_secret"] == rotated["signing_secret"][:10] + "…"


async def test_the_chain_holds_every_attempt_of_the_webhook_id(db: asyncpg.Connection, world: World) -> None:
    first = await _log(db, world, "retrying", minutes_ago=2)
    webhook_id = uuid.uuid4()
    second = await _log(db, world, "success", minutes_ago=1)
    await db.execute("update webhook_logs set webhook_id = $1 where id = any($2::uuid[])", webhook_id, [first, second])
    await db.execute("update webhook_logs set parent_log_id = $1, attempt_number = 2 where id = $2", first, second)
    async with acting_as(db, "authenticated", OWNER_A):
        chain = await db.fetch("select id from api_webhook_log_chain($1)", second)
    assert [r["id"] for r in chain] == [first, second]


async def test_the_series_sums_to_the_stats(db: asyncpg.Connection, world: World) -> None:
    for minutes, status in ((5, "success"), (70, "failed"), (60 * 30, "success")):
        await _log(db, world, status, minutes_ago=minutes)
    async with acting_as(db, "authenticated", OWNER_A):
        stats = await db.fetchrow("select * from api_webhook_stats($1, 7)", world.rule_a)
        series = await db.fetch("select * from api_webhook_stats_series($1, 7, 'hour')", world.rule_a)
    assert sum(r["total_calls"] for r in series) == stats["total_calls"] == 3
    assert sum(r["failed_calls"] for r in series) == stats["failed_calls"] == 1
