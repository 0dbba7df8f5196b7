"""API keys: hashed at rest; the api_* functions answer 401/403/404/429 as PostgREST errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead, claim, record, result


async def _create_key(db: asyncpg.Connection, owner: uuid.UUID, **kwargs) -> str:
    names = ", ".join(f"{name} => ${i}" for i, name in enumerate(kwargs, start=2))
    async with acting_as(db, "authenticated", owner):
        return await db.fetchval(f"select create_api_key($1{', ' + names if names else ''})", "test key",
                                 *kwargs.values())


async def _call(db: asyncpg.Connection, key: str | None, sql: str, *args, role: str = "anon"):
    headers = {"x-api-key": key} if key is not None else {}
    async with acting_as(db, role, headers=headers):
        return await db.fetch(sql, *args)


async def _refused(db: asyncpg.Connection, key: str | None, sql: str, *args) -> tuple[int, dict]:
    """The HTTP status and body PostgREST would answer with."""
    with pytest.raises(asyncpg.PostgresError) as caught:
        await _call(db, key, sql, *args)
    assert caught.value.sqlstate == "PGRST"
    body = json.loads(caught.value.message)
    detail = json.loads(caught.value.detail)
    assert set(detail) == {"status", "headers"}
    return detail["status"], body | {"headers": detail["headers"]}


LOGS = "select * from api_webhook_logs($1)"
STATS = "select * from api_webhook_stats($1)"
REPLAY = "select api_replay_webhook($1)"


@pytest.fixture
async def log_a(db: asyncpg.Connection, world: World) -> uuid.UUID:
    await add_lead(db, world.funnel_a)
    await add_lead(db, world.funnel_b)
    jobs = await claim(db, "w")
    rows = await record(db, [result(job, "w", success=True) for job in jobs])
    return await db.fetchval("select id from webhook_logs where routing_rule_id = $1 and id = any($2::uuid[])",
                             world.rule_a, [r["log_id"] for r in rows])


async def test_the_plaintext_key_is_shown_once_and_only_its_sha256_is_stored(db: asyncpg.Connection,
                                                                            world: World) -> None:
    key = await _create_key(db, OWNER_A)
    assert key.startswith("bpc_") and len(key) >= 40
    row = await db.fetchrow("select * from api_keys")
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["key_prefix"] == key[: len(row["key_prefix"])] and len(row["key_prefix"]) < 16
    assert row["user_id"] == OWNER_A
    assert sorted(row["scopes"]) == ["webhooks:read", "webhooks:replay"] and row["rate_limit_per_minute"] == 60
    everything = await db.fetchval("select string_agg(t::text, ' ') from api_keys t")
    assert key not in everything and key[4:] not in everything


async def test_creating_a_key_needs_a_signed_in_user(db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.PostgresError) as caught:
        await db.fetchval("select create_api_key('no user')")
    assert caught.value.sqlstate == "PGRST"
    assert json.loads(caught.value.detail)["status"] == 401


async def test_create_api_key_refuses_bad_arguments_naming_them(db: asyncpg.Connection, world: World) -> None:
    for kwargs, field in ((dict(scopes=["webhooks:admin"]), "scopes"),
                          (dict(rate_limit_per_minute=0), "rate_limit_per_minute"),
                          (dict(expires_at=datetime.now(timezone.utc) - timedelta(days=1)), "expires_at")):
        with pytest.raises(asyncpg.InvalidParameterValueError, match=field):
            await _create_key(db, OWNER_A, **kwargs)


async def test_a_valid_key_reads_logs_newest_first_and_stats(db: asyncpg.Connection, world: World,
                                                             log_a: uuid.UUID) -> None:
    key = await _create_key(db, OWNER_A)
    await db.execute("update webhook_logs set created_at = now() - interval '1 hour' where id = $1", log_a)
    await add_lead(db, world.funnel_a)
    [job] = await claim(db, "w")
    await record(db, [result(job, "w", success=False, retry_in_ms=None)])

    rows = await _call(db, key, LOGS, world.rule_a)
    assert [r["status"] for r in rows] == ["failed", "success"] and rows[1]["id"] == log_a
    assert [r["id"] for r in await _call(db, key, "select * from api_webhook_logs($1, 'success')",
                                         world.rule_a)] == [log_a]
    [stats] = await _call(db, key, STATS, world.rule_a)
    assert (stats["total_calls"], stats["success_calls"], stats["failed_calls"]) == (2, 1, 1)
    assert await db.fetchval("select count(*) from api_rate_limit_log") == 3
    assert await db.fetchval("select last_used_at is not null from api_keys")


async def test_a_key_with_the_replay_scope_replays_its_owners_log(db: asyncpg.Connection, world: World,
                                                                  log_a: uuid.UUID) -> None:
    key = await _create_key(db, OWNER_A)
    [row] = await _call(db, key, REPLAY, log_a)
    replay = await db.fetchrow("select * from webhook_queue where id = $1", row[0])
    assert replay["parent_log_id"] == log_a


@pytest.mark.parametrize("sql", [LOGS, STATS])
async def test_missing_or_unknown_keys_are_401(db: asyncpg.Connection, world: World, sql: str) -> None:
    status, body = await _refused(db, None, sql, world.rule_a)
    assert status == 401 and "missing" in body["message"]
    status, body = await _refused(db, "bpc_" + "0" * 48, sql, world.rule_a)
    assert status == 401 and "not recognised" in body["message"]


async def test_revoked_and_expired_keys_are_401(db: asyncpg.Connection, world: World) -> None:
    revoked = await _create_key(db, OWNER_A)
    key_id = await db.fetchval("select id from api_keys")
    async with acting_as(db, "authenticated", OWNER_A):
        await db.execute("select revoke_api_key($1)", key_id)
    status, body = await _refused(db, revoked, LOGS, world.rule_a)
    assert (status, body["code"]) == (401, "api_key_revoked")

    expiring = await _create_key(db, OWNER_A, expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
    await db.execute("update api_keys set expires_at = now() - interval '1 second' where revoked_at is null")
    status, body = await _refused(db, expiring, LOGS, world.rule_a)
    assert (status, body["code"]) == (401, "api_key_expired")


async def test_only_the_owner_or_the_system_revokes_a_key(db: asyncpg.Connection, world: World) -> None:
    await _create_key(db, OWNER_A)
    key_id = await db.fetchval("select id from api_keys")
    with pytest.raises(asyncpg.NoDataFoundError, match="API key .* not found"):
        async with acting_as(db, "authenticated", OWNER_B):
            await db.execute("select revoke_api_key($1)", key_id)
    assert await db.fetchval("select revoked_at from api_keys") is None
    async with acting_as(db, "service_role"):
        await db.execute("select revoke_api_key($1)", key_id)
    assert await db.fetchval("select revoked_at from api_keys") is not None


async def test_a_missing_scope_is_403(db: asyncpg.Connection, world: World, log_a: uuid.UUID) -> None:
    read_only = await _create_key(db, OWNER_A, scopes=["webhooks:read"])
    replay_only = await _create_key(db, OWNER_A, scopes=["webhooks:replay"])
    status, body = await _refused(db, read_only, REPLAY, log_a)
    assert status == 403 and "webhooks:replay" in body["message"]
    for sql in (LOGS, STATS):
        status, body = await _refused(db, replay_only, sql, world.rule_a)
        assert status == 403 and "webhooks:read" in body["message"]


async def test_another_users_rule_or_log_is_404(db: asyncpg.Connection, world: World, log_a: uuid.UUID) -> None:
    key_b = await _create_key(db, OWNER_B)
    for sql, arg in ((LOGS, world.rule_a), (STATS, world.rule_a), (REPLAY, log_a), (REPLAY, uuid.uuid4()),
                     (LOGS, uuid.uuid4())):
        status, body = await _refused(db, key_b, sql, arg)
        assert status == 404 and "not found" in body["message"]
    assert await db.fetchval("select count(*) from webhook_queue where parent_log_id = $1", log_a) == 0
    assert await db.fetchval("select count(*) from api_rate_limit_log") == 0  # refused calls do not count


async def test_more_calls_than_the_limit_within_60_seconds_are_429(db: asyncpg.Connection, world: World) -> None:
    key = await _create_key(db, OWNER_A, rate_limit_per_minute=3)
    for _ in range(3):
        await _call(db, key, STATS, world.rule_a)
    status, body = await _refused(db, key, STATS, world.rule_a)
    assert status == 429 and "3" in body["message"]
    assert 1 <= int(body["headers"]["Retry-After"]) <= 60
    status, _ = await _refused(db, key, LOGS, world.rule_a)  # the limit is per key, across endpoints
    assert status == 429
    assert await db.fetchval("select count(*) from api_rate_limit_log") == 3  # refusals are not counted

    # Calls older than 60 seconds leave the window.
    await db.execute("update api_rate_limit_log set created_at = now() - interval '61 seconds'")
    await _call(db, key, STATS, world.rule_a)


async def test_the_limit_counts_each_key_separately(db: asyncpg.Connection, world: World) -> None:
    first = await _create_key(db, OWNER_A, rate_limit_per_minute=1)
    second = await _create_key(db, OWNER_A, rate_limit_per_minute=1)
    await _call(db, first, STATS, world.rule_a)
    await _call(db, second, STATS, world.rule_a)
    assert (await _refused(db, first, STATS, world.rule_a))[0] == 429


async def test_rate_limit_log_purge_keeps_the_last_hour(db: asyncpg.Connection, world: World) -> None:
    key = await _create_key(db, OWNER_A)
    for _ in range(3):
        await _call(db, key, STATS, world.rule_a)
    await db.execute("update api_rate_limit_log set created_at = now() - interval '2 hours'"
                     " where id = (select min(id) from api_rate_limit_log)")
    assert await db.fetchval("select purge_api_rate_limit_log()") == 1
    assert await db.fetchval("select count(*) from api_rate_limit_log") == 2


async def test_concurrent_calls_with_one_key_never_exceed_the_limit(db_dsn: str, db: asyncpg.Connection,
                                                                    world: World) -> None:
    key = await _create_key(db, OWNER_A, rate_limit_per_minute=4)
    conns = [await asyncpg.connect(db_dsn) for _ in range(10)]
    try:
        async def one(conn: asyncpg.Connection) -> int:
            try:
                await _call(conn, key, STATS, world.rule_a)
                return 200
            except asyncpg.PostgresError as exc:
                return json.loads(exc.detail)["status"]

        statuses = await asyncio.gather(*(one(conn) for conn in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(statuses) == [200] * 4 + [429] * 6
    assert await db.fetchval("select count(*) from api_rate_limit_log") == 4
