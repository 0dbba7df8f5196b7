"""Who may execute what, security definer hygiene, purge, and the pg_cron schedules."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.db.conftest import World, claim, record, result

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = [
    "claim_webhook_jobs(text,integer,integer,uuid[])",
    "record_webhook_attempts(jsonb)",
    "release_webhook_jobs(uuid[])",
    "defer_webhook_jobs(text,uuid[],integer)",
    "extend_webhook_leases(text,uuid[],integer)",
    "requeue_stale_webhook_jobs()",
    "purge_webhook_logs()",
    "purge_api_rate_limit_log()",
]
FOR_PEOPLE = [
    "get_webhook_stats(uuid,integer)",
    "replay_webhook(uuid)",
    "enqueue_webhook(uuid,uuid,integer)",
    "update_webhook_config(uuid,jsonb)",
    "create_api_key(text,text[],timestamptz,integer)",
    "revoke_api_key(uuid)",
]
KEY_AUTHENTICATED = [
    "api_webhook_logs(uuid,text,integer)",
    "api_webhook_stats(uuid,integer)",
    "api_replay_webhook(uuid)",
]


async def _can_execute(db: asyncpg.Connection, role: str, signature: str, schema: str = "public") -> bool:
    return await db.fetchval("select has_function_privilege($1, $2::regprocedure, 'execute')",
                             role, f"{schema}.{signature}")


@pytest.mark.parametrize("signature", INTERNAL)
async def test_internal_rpcs_are_executable_by_service_role_only(db: asyncpg.Connection, signature: str) -> None:
    got = {role: await _can_execute(db, role, signature) for role in ("anon", "authenticated", "service_role")}
    assert got == {"anon": False, "authenticated": False, "service_role": True}


@pytest.mark.parametrize("signature", FOR_PEOPLE)
async def test_functions_for_people_are_for_owners_and_service_role_not_anon(db: asyncpg.Connection,
                                                                           signature: str) -> None:
    got = {role: await _can_execute(db, role, signature) for role in ("anon", "authenticated", "service_role")}
    assert got == {"anon": False, "authenticated": True, "service_role": True}


@pytest.mark.parametrize("signature", KEY_AUTHENTICATED)
async def test_key_authenticated_functions_are_open_to_every_api_role(db: asyncpg.Connection,
                                                                     signature: str) -> None:
    for role in ("anon", "authenticated", "service_role"):
        assert await _can_execute(db, role, signature)


async def test_no_function_of_ours_is_executable_by_public(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "select p.oid::regprocedure::text as f from pg_proc p"
        " where p.pronamespace in ('public'::regnamespace, 'webhooks_private'::regnamespace)"
        " and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a"
        "      where a.grantee = 0 and a.privilege_type = 'EXECUTE'))"
    )
    assert [r["f"] for r in rows] == []


async def test_helpers_are_not_executable_by_api_roles(db: asyncpg.Connection) -> None:
    for signature in ("webhook_replay_log(uuid)", "webhook_stats_for_rule(uuid,integer)",
                      "api_key_authenticate(text,text)", "api_http_error(integer,text,text,text,jsonb)",
                      "webhook_rule_visible(uuid)", "webhook_caller_is_admin()"):
        for role in ("anon", "authenticated", "service_role"):
            assert not await _can_execute(db, role, signature, "webhooks_private"), (signature, role)


async def test_security_definer_functions_pin_an_empty_search_path(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "select p.oid::regprocedure::text as f, p.proconfig from pg_proc p"
        " where p.pronamespace in ('public'::regnamespace, 'webhooks_private'::regnamespace) and p.prosecdef"
    )
    assert len(rows) > 10
    assert [r["f"] for r in rows if "search_path=\"\"" not in (r["proconfig"] or [])] == []


async def test_purge_keeps_log_retention_days(db: asyncpg.Connection, world: World) -> None:
    assert await db.fetchval("select value from webhook_settings where key = 'log_retention_days'") == "30"
    await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, 3)", world.funnel_a)
    jobs = await claim(db, "w")
    rows = await record(db, [result(job, "w", success=True) for job in jobs])
    logs = [r["log_id"] for r in rows]
    await db.execute("update webhook_logs set created_at = now() - interval '31 days' where id = $1", logs[0])
    await db.execute("update webhook_queue set completed_at = now() - interval '31 days' where id = $1",
                     jobs[0]["queue_id"])
    await db.execute("update webhook_logs set created_at = now() - interval '10 days' where id = $1", logs[1])

    assert await db.fetchval("select purge_webhook_logs()") == 1
    assert await db.fetchval("select count(*) from webhook_logs") == 2
    assert await db.fetchval("select count(*) from webhook_queue") == 2

    await db.execute("update webhook_settings set value = '7' where key = 'log_retention_days'")
    assert await db.fetchval("select purge_webhook_logs()") == 1
    assert await db.fetchval("select count(*) from webhook_logs") == 1


async def test_without_pg_cron_the_cron_migration_applies_and_names_what_to_schedule(
    db: asyncpg.Connection,
) -> None:
    # Test clones are not pg_cron's database (cron.database_name): the NOTICE path.
    [migration] = sorted((ROOT / "supabase" / "migrations").glob("*_cron.sql"))
    notices: list[str] = []
    db.add_log_listener(lambda _conn, message: notices.append(message.message))
    await db.execute(migration.read_text())
    assert await db.fetchval("select count(*) from pg_extension where extname = 'pg_cron'") == 0
    [notice] = notices
    assert "pg_cron" in notice
    for function in ("requeue_stale_webhook_jobs()", "purge_webhook_logs()", "purge_api_rate_limit_log()"):
        assert function in notice


async def test_pg_cron_jobs_are_scheduled_where_pg_cron_runs(cron_db_dsn: str) -> None:
    conn = await asyncpg.connect(cron_db_dsn)
    try:
        if not await conn.fetchval("select count(*) from pg_extension where extname = 'pg_cron'"):
            pytest.skip("pg_cron is not installed on this machine")
        jobs = {r["jobname"]: (r["schedule"], r["command"])
                for r in await conn.fetch("select jobname, schedule, command from cron.job")}
    finally:
        await conn.close()
    assert jobs["webhooks-requeue-stale"] == ("* * * * *", "select public.requeue_stale_webhook_jobs()")
    assert jobs["webhooks-purge-logs"][0].endswith("* * *")
    assert jobs["webhooks-purge-logs"][1] == "select public.purge_webhook_logs()"
    assert jobs["webhooks-purge-rate-limit-log"][0].endswith("* * * *")
    assert jobs["webhooks-purge-rate-limit-log"][1] == "select public.purge_api_rate_limit_log()"
