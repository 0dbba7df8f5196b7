"""Internals live in schema webhooks_private; `public`, which PostgREST exposes, holds only what clients call.

supabase/migrations/20261203100000_private_schema.sql moved them. These tests keep it that way:
`public` holds exactly PUBLIC_FUNCTIONS, no API role can name anything in webhooks_private, no
function calls an internal by its old name, and the writes that fire the moved triggers still
work for each role that makes them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, World, acting_as

ROOT = Path(__file__).resolve().parents[2]
API_ROLES = ("anon", "authenticated", "service_role")

# What `public` exposes, and who calls each by name.
CONTRACT = "the SQL API (README, Database API)"
WORKER = "the sidecar's worker and CLI (sidecar/sql/queries.sql)"
HTTP_API = "the HTTP API (sidecar/api/queries.sql)"
PUBLIC_FUNCTIONS = {
    "get_webhook_stats": CONTRACT,
    "replay_webhook": CONTRACT,
    "enqueue_webhook": CONTRACT,
    "update_webhook_config": CONTRACT,
    "create_api_key": CONTRACT,
    "revoke_api_key": CONTRACT,
    "api_webhook_logs": CONTRACT,
    "api_webhook_stats": CONTRACT,
    "api_replay_webhook": CONTRACT,
    "claim_webhook_jobs": CONTRACT,
    "record_webhook_attempts": CONTRACT,
    "release_webhook_jobs": CONTRACT,
    "requeue_stale_webhook_jobs": CONTRACT,
    "purge_webhook_logs": CONTRACT,
    "purge_api_rate_limit_log": CONTRACT,
    "recover_webhook_deliveries": CONTRACT,
    "cancel_webhook_deliveries": CONTRACT,
    "send_test_webhook": CONTRACT,
    "defer_webhook_jobs": WORKER,
    "extend_webhook_leases": WORKER,
    "webhook_delivery": WORKER,
    "webhook_effective_config": WORKER,
    "webhook_held_summary": WORKER,
    "webhook_log_search": WORKER,
    "webhook_queue_summary": WORKER,
    "api_webhook_rules": HTTP_API,
    "api_webhook_log_page": HTTP_API,
    "api_webhook_log_chain": HTTP_API,
    "api_webhook_delivery_attempt": HTTP_API,
    "api_webhook_stats_series": HTTP_API,
    "api_webhook_config": HTTP_API,
    "api_update_webhook_config": HTTP_API,
    "api_recover_webhook_deliveries": HTTP_API,
    "api_send_test_webhook": HTTP_API,
    "api_cancel_webhook_deliveries": HTTP_API,
    "api_webhook_events": HTTP_API,
    "webhook_stats_rebuild": "operators, after writes that bypassed the triggers (README, Stats)",
}
# The only execute grants in webhooks_private: calls bound by OID in a policy or a check
# constraint, which the role whose statement evaluates them must be allowed to execute.
BOUND_BY_OID = {
    "webhooks_private.webhook_my_rule_ids()": {"authenticated"},
    "webhooks_private.webhook_headers_problem(jsonb)": {"authenticated", "service_role"},
}
SECRET = "whsec_" + "B" * 44


async def _functions(db: asyncpg.Connection, schema: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "select p.oid, p.proname, p.oid::regprocedure::text as signature, p.prosrc, p.prosecdef"
        " from pg_proc p where p.pronamespace = $1::regnamespace order by p.proname", schema)


def _called_by_the_sidecar() -> set[str]:
    """The functions the sidecar's named queries call (its PostgREST store calls the same names)."""
    sql = (ROOT / "sidecar" / "sql" / "queries.sql").read_text() + (ROOT / "sidecar" / "api" / "queries.sql").read_text()
    return set(re.findall(r"\bpublic\.(\w+)\(", sql))


async def test_public_holds_exactly_the_functions_clients_call(db: asyncpg.Connection) -> None:
    assert sorted(r["proname"] for r in await _functions(db, "public")) == sorted(PUBLIC_FUNCTIONS)


def test_every_public_function_outside_the_contract_has_a_caller() -> None:
    called = _called_by_the_sidecar()
    readme = (ROOT / "README.md").read_text()
    for name, caller in PUBLIC_FUNCTIONS.items():
        if caller in (WORKER, HTTP_API):
            assert name in called, f"{name} is kept public for the sidecar, which no longer calls it"
        elif caller != CONTRACT:
            assert re.search(rf"select\s+{name}\(", readme), f"{name} is kept public for {caller}, README no longer says so"
    assert called <= set(PUBLIC_FUNCTIONS), called - set(PUBLIC_FUNCTIONS)


async def test_no_api_role_may_use_or_create_in_the_private_schema(db: asyncpg.Connection) -> None:
    for role in API_ROLES:
        for privilege in ("usage", "create"):
            assert not await db.fetchval("select has_schema_privilege($1, 'webhooks_private', $2)", role, privilege)


async def test_api_roles_execute_nothing_private_but_the_calls_bound_in_policies_and_constraints(
    db: asyncpg.Connection,
) -> None:
    granted: dict[str, set[str]] = {}
    for function in await _functions(db, "webhooks_private"):
        for role in API_ROLES:
            if await db.fetchval("select has_function_privilege($1, $2::oid, 'execute')", role, function["oid"]):
                granted.setdefault(function["signature"], set()).add(role)
    assert granted == BOUND_BY_OID
    for signature in BOUND_BY_OID:
        assert await db.fetchval(
            "select exists (select 1 from pg_depend where refobjid = $1::regprocedure"
            " and classid in ('pg_policy'::regclass, 'pg_constraint'::regclass))", signature), signature


@pytest.mark.parametrize(("role", "call"), [
    ("anon", "select webhooks_private.api_http_error(401, 'x', 'y')"),
    ("anon", "select webhooks_private.webhook_max_retry_delay_ms()"),
    ("authenticated", "select * from webhooks_private.webhook_my_rule_ids()"),
    ("authenticated", "select webhooks_private.webhook_headers_problem('{}')"),
    ("service_role", "select webhooks_private.webhook_max_attempts(gen_random_uuid())"),
])
async def test_api_roles_cannot_call_internals_by_name(db: asyncpg.Connection, role: str, call: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema webhooks_private"):
        async with acting_as(db, role, OWNER_A if role == "authenticated" else None):
            await db.fetch(call)


async def test_a_function_added_to_the_private_schema_later_is_out_of_reach_too(db: asyncpg.Connection) -> None:
    # PostgreSQL grants execute to PUBLIC on a new function, and a per-schema `alter default
    # privileges ... revoke` cannot take that back; the schema's missing usage is what keeps a
    # forgotten revoke harmless.
    await db.execute("create function webhooks_private.added_later() returns int language sql as 'select 1'")
    assert await db.fetchval("select has_function_privilege('anon', 'webhooks_private.added_later()', 'execute')")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="schema webhooks_private"):
        async with acting_as(db, "anon"):
            await db.fetchval("select webhooks_private.added_later()")


def _stale_call(private: set[str]) -> re.Pattern[str]:
    """A call of an internal by its old name (public.<name>) or by its bare name."""
    names = "|".join(sorted(private))
    return re.compile(rf"\bpublic\.(?:{names})\b|(?<!webhooks_private\.)\b(?:{names})\s*\(")


async def test_no_function_calls_an_internal_by_its_old_or_an_unqualified_name(db: asyncpg.Connection) -> None:
    stale = _stale_call({r["proname"] for r in await _functions(db, "webhooks_private")})
    found = [(f["signature"], m.group(0)) for schema in ("public", "webhooks_private")
             for f in await _functions(db, schema) for m in stale.finditer(f["prosrc"])]
    assert found == []


def test_the_stale_call_check_finds_calls_written_before_the_move() -> None:
    stale = _stale_call({"webhook_json_problem", "webhook_max_attempts"})
    body = ("problem := public.webhook_json_problem(new.data, 1048576); n := webhook_max_attempts(r);"
            " -- webhook_json_problem's limit; m := webhooks_private.webhook_max_attempts(r);")
    assert [m.group(0) for m in stale.finditer(body)] == ["public.webhook_json_problem", "webhook_max_attempts("]


async def test_every_trigger_of_ours_runs_a_private_function(db: asyncpg.Connection) -> None:
    rows = await db.fetch(
        "select t.tgrelid::regclass::text as tab, t.tgname, p.pronamespace::regnamespace::text as schema"
        " from pg_trigger t join pg_proc p on p.oid = t.tgfoid"
        " join pg_class c on c.oid = t.tgrelid where c.relnamespace = 'public'::regnamespace and not t.tgisinternal")
    assert len(rows) >= 15
    assert [(r["tab"], r["tgname"]) for r in rows if r["schema"] != "webhooks_private"] == []


async def test_functions_run_by_oid_as_the_writer_name_no_internal(db: asyncpg.Connection) -> None:
    """A trigger, policy or check constraint running as its caller cannot look up webhooks_private."""
    rows = await db.fetch(
        "select distinct p.oid::regprocedure::text as f, p.prosrc from pg_proc p"
        " where p.pronamespace = 'webhooks_private'::regnamespace and not p.prosecdef and ("
        "   p.oid in (select tgfoid from pg_trigger)"
        "   or p.oid in (select refobjid from pg_depend"
        "                where classid in ('pg_policy'::regclass, 'pg_constraint'::regclass)))")
    assert {r["f"] for r in rows} >= {"webhooks_private.webhook_headers_problem(jsonb)",
                                      "webhooks_private.webhook_configs_validate_breaker()"}
    assert [r["f"] for r in rows if "webhooks_private." in r["prosrc"]] == []


async def test_pg_cron_jobs_call_public_functions(cron_db_dsn: str) -> None:
    conn = await asyncpg.connect(cron_db_dsn)
    try:
        if not await conn.fetchval("select count(*) from pg_extension where extname = 'pg_cron'"):
            pytest.skip("pg_cron is not installed on this machine")
        commands = [r["command"] for r in await conn.fetch("select command from cron.job where jobname like 'webhooks-%'")]
    finally:
        await conn.close()
    called = [name for command in commands for name in re.findall(r"\bpublic\.(\w+)\(", command)]
    assert len(called) == len(commands) == 3
    assert set(called) <= set(PUBLIC_FUNCTIONS)


# ---------------------------------------------------------------------------
# The writes that fire the moved triggers, as each role that makes them. A fresh
# session for the role, so no plan cached by the superuser's setup is reused.
# ---------------------------------------------------------------------------
async def _as(db_dsn: str, role: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_dsn)
    try:
        async with acting_as(conn, role, OWNER_A if role == "authenticated" else None):
            return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("role", ["authenticated", "service_role"])
async def test_a_lead_inserted_by_an_owner_or_service_role_is_enqueued(db_dsn: str, db: asyncpg.Connection,
                                                                       world: World, role: str) -> None:
    # Big enough for webhook_leads_limits' WHEN clause; 65 brackets in a string make it measure
    # the depth too (webhook_json_deeper_than), which is 1.
    data = json.dumps({"email": "a@example.com", "note": "[" * 65 + "x" * 600})
    [lead] = await _as(db_dsn, role, "insert into leads (funnel_id, data) values ($1, $2::jsonb) returning id",
                       world.funnel_a, data)
    queued = await _as(db_dsn, role, "select routing_rule_id from webhook_queue where lead_id = $1", lead["id"])
    assert [r["routing_rule_id"] for r in queued] == [world.rule_a]


@pytest.mark.parametrize("role", ["authenticated", "service_role"])
async def test_a_lead_nested_too_deep_is_still_refused(db_dsn: str, world: World, role: str) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="deeper than 64 levels"):
        await _as(db_dsn, role, "insert into leads (funnel_id, data) values ($1, $2::jsonb)",
                  world.funnel_a, json.dumps({"x": json.loads(_nested(65))}))


@pytest.mark.parametrize("role", ["authenticated", "service_role"])
async def test_an_owner_or_service_role_adds_a_rule_and_edits_its_config(db_dsn: str, db: asyncpg.Connection,
                                                                         world: World, role: str) -> None:
    [rule] = await _as(db_dsn, role,
                       "insert into routing_rules (funnel_id, client_name, webhook_url, condition)"
                       " values ($1, 'New', 'https://example.com/new', $2::jsonb) returning id",
                       world.funnel_a, json.dumps({"tags": json.loads(_nested(40))}))
    await _as(db_dsn, role, "select public.update_webhook_config($1, '{\"paused\": true}')", rule["id"])
    [config] = await _as(db_dsn, role,
                         "update webhook_configs set signing_secret = $2, custom_headers = '{\"X-Team\": \"a\"}'"
                         " where routing_rule_id = $1 returning paused_reason, custom_headers, signing_secret",
                         rule["id"], SECRET)
    assert (config["paused_reason"], json.loads(config["custom_headers"]), config["signing_secret"]) == (
        "manual", {"X-Team": "a"}, SECRET)
    assert await db.fetchval("select previous_signing_secret is not null from webhook_configs"
                             " where routing_rule_id = $1", rule["id"])
    with pytest.raises(asyncpg.CheckViolationError, match="invalid webhook config: custom_headers"):
        await _as(db_dsn, role, "update webhook_configs set custom_headers = '{\"Host\": \"x\"}'"
                  " where routing_rule_id = $1", rule["id"])
    with pytest.raises(asyncpg.CheckViolationError, match="invalid webhook config: signing_secret"):
        await _as(db_dsn, role, "update webhook_configs set signing_secret = 'whsec_' || repeat('A', 33)"
                  " where routing_rule_id = $1", rule["id"])


async def test_the_check_constraint_calls_the_moved_helper_for_an_owner(db_dsn: str, db: asyncpg.Connection,
                                                                        world: World) -> None:
    await db.execute("select update_webhook_config($1, '{}')", world.rule_a)
    await db.execute("alter table webhook_configs disable trigger webhook_configs_validate")
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await _as(db_dsn, "authenticated", "update webhook_configs set custom_headers = '{\"Host\": \"x\"}'"
                  " where routing_rule_id = $1", world.rule_a)
    assert refused.value.constraint_name == "webhook_configs_custom_headers_check"


async def test_owners_still_read_only_their_own_rows_through_the_moved_policy_helper(
    db_dsn: str, db: asyncpg.Connection, world: World,
) -> None:
    await db.execute("insert into leads (funnel_id) values ($1), ($2)", world.funnel_a, world.funnel_b)
    seen = await _as(db_dsn, "authenticated", "select routing_rule_id from webhook_queue")
    assert [r["routing_rule_id"] for r in seen] == [world.rule_a]
    assert await db.fetchval("select count(*) from webhook_queue") == 2
