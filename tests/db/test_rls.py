"""Row level security: owners see their own rows, anon nothing, only the system writes logs and queue."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead, claim, record, result

TABLES = ["funnels", "routing_rules", "leads", "webhook_configs", "webhook_logs", "webhook_queue",
          "webhook_settings", "api_keys", "api_rate_limit_log"]


@pytest.fixture
async def delivered(db: asyncpg.Connection, world: World) -> World:
    """One attempted delivery for each owner, and an API key for each."""
    await add_lead(db, world.funnel_a)
    await add_lead(db, world.funnel_b)
    jobs = await claim(db, "w")
    await record(db, [result(job, "w", success=False, retry_in_ms=1000) for job in jobs])
    for owner in (OWNER_A, OWNER_B):
        async with acting_as(db, "authenticated", owner):
            await db.fetchval("select create_api_key('k')")
    return world


async def _fingerprint(db: asyncpg.Connection) -> list[str]:
    """A digest of every row the system alone may write."""
    return [await db.fetchval(f"select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) from {table} t")
            for table in ("webhook_logs", "webhook_queue", "api_keys", "webhook_settings")]


async def _count(db: asyncpg.Connection, table: str) -> int:
    return await db.fetchval(f"select count(*) from public.{table}")


async def test_row_level_security_is_on_for_every_table_in_public(db: asyncpg.Connection) -> None:
    rows = await db.fetch("select relname from pg_class where relnamespace = 'public'::regnamespace"
                          " and relkind in ('r', 'p') and not relrowsecurity")
    assert [r["relname"] for r in rows] == []


async def test_an_owner_reads_only_their_own_logs_queue_configs_and_keys(db: asyncpg.Connection,
                                                                        delivered: World) -> None:
    for owner, rule, other_rule in ((OWNER_A, delivered.rule_a, delivered.rule_b),
                                    (OWNER_B, delivered.rule_b, delivered.rule_a)):
        async with acting_as(db, "authenticated", owner):
            for table in ("webhook_logs", "webhook_queue", "webhook_configs"):
                rules = {r["routing_rule_id"] for r in await db.fetch(f"select routing_rule_id from {table}")}
                assert rules == {rule}, table
            assert await db.fetchval("select count(*) from webhook_logs where routing_rule_id = $1",
                                     other_rule) == 0
            assert {r["user_id"] for r in await db.fetch("select user_id from api_keys")} == {owner}
            assert await db.fetchval("select count(*) from routing_rules") == 1
            assert await db.fetchval("select count(*) from funnels") == 1
            assert await db.fetchval("select count(*) from leads") == 1


async def test_anon_reads_nothing(db: asyncpg.Connection, delivered: World) -> None:
    for table in TABLES:
        assert await _count(db, table) > 0 or table == "api_rate_limit_log"
        try:
            async with acting_as(db, "anon"):
                assert await _count(db, table) == 0, table
        except asyncpg.InsufficientPrivilegeError:
            pass  # no privilege at all: reads nothing either


async def test_a_signed_in_user_without_funnels_reads_nothing(db: asyncpg.Connection, delivered: World) -> None:
    stranger = "cccccccc-0000-4000-8000-000000000003"
    for table in TABLES:
        try:
            async with acting_as(db, "authenticated", stranger):
                assert await _count(db, table) == 0, table
        except asyncpg.InsufficientPrivilegeError:
            pass


@pytest.mark.parametrize("statement", [
    "insert into webhook_logs (lead_id, routing_rule_id, webhook_url, max_attempts)"
    " select lead_id, routing_rule_id, 'x', 1 from webhook_queue limit 1",
    "update webhook_logs set status = 'success'",
    "delete from webhook_logs",
    "insert into webhook_queue (webhook_id, lead_id, routing_rule_id, payload)"
    " select gen_random_uuid(), lead_id, routing_rule_id, '{}' from webhook_queue limit 1",
    "update webhook_queue set status = 'completed'",
    "delete from webhook_queue",
    "insert into api_keys (user_id, name, key_prefix, key_hash) values"
    " (auth.uid(), 'x', 'bpc_', repeat('a', 64))",
    "update api_keys set revoked_at = null",
    "update webhook_settings set value = '1'",
])
@pytest.mark.parametrize("role", ["authenticated", "anon"])
async def test_users_cannot_write_logs_queue_keys_or_settings(db: asyncpg.Connection, delivered: World,
                                                              role: str, statement: str) -> None:
    before = await _fingerprint(db)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with acting_as(db, role, OWNER_A if role == "authenticated" else None):
            await db.execute(statement)
    assert await _fingerprint(db) == before


async def test_an_owner_edits_their_own_config_but_not_another_owners(db: asyncpg.Connection,
                                                                      delivered: World) -> None:
    async with acting_as(db, "authenticated", OWNER_A):
        mine = await db.execute("update webhook_configs set timeout_ms = 5000")
        theirs = await db.execute("update webhook_configs set timeout_ms = 5000 where routing_rule_id = $1",
                                  delivered.rule_b)
    assert (mine, theirs) == ("UPDATE 1", "UPDATE 0")
    assert await db.fetchval("select timeout_ms from webhook_configs where routing_rule_id = $1",
                             delivered.rule_b) == 10000

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with acting_as(db, "authenticated", OWNER_A):
            await db.execute("insert into webhook_configs (routing_rule_id) values ($1)", delivered.rule_b)


async def test_owners_cannot_move_rules_or_funnels_to_someone_else(db: asyncpg.Connection,
                                                                   delivered: World) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with acting_as(db, "authenticated", OWNER_A):
            await db.execute("update funnels set owner_id = $1", OWNER_B)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with acting_as(db, "authenticated", OWNER_A):
            await db.execute("update routing_rules set funnel_id = $1", delivered.funnel_b)


async def test_update_webhook_config_is_limited_to_the_owner(db: asyncpg.Connection, delivered: World) -> None:
    with pytest.raises(asyncpg.NoDataFoundError, match="routing rule .* not found"):
        async with acting_as(db, "authenticated", OWNER_B):
            await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", delivered.rule_a,
                              json.dumps({"timeout_ms": 500}))
    async with acting_as(db, "authenticated", OWNER_A):
        row = await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", delivered.rule_a,
                                json.dumps({"timeout_ms": 500}))
    assert row["timeout_ms"] == 500
