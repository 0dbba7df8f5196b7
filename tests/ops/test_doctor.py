"""doctor: each broken precondition gives a failing check with a clear line; a good setup passes."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from sidecar.ops import doctor, migrate
from sidecar.ops.doctor import Check, run_checks
from sidecar.ops.embedded import LocalCluster, free_port
from sidecar.ops.metrics import Metrics, serve
from sidecar.settings import Settings, load_settings
from tests.pg import admin

NO_ENV_FILE = Path("/nonexistent/.env")


def settings_from(**env: str) -> Settings:
    return load_settings(env, env_file=NO_ENV_FILE)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def fake_jwt(role: str) -> str:
    def part(data: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS256'})}.{part({'role': role})}.c2lnbmF0dXJl"


@pytest.fixture
async def empty_dsn(pg_cluster: LocalCluster) -> AsyncIterator[str]:
    """A database nothing has been applied to."""
    await admin(pg_cluster, "create database doctor_empty")
    try:
        yield pg_cluster.dsn("doctor_empty")
    finally:
        await admin(pg_cluster, "drop database doctor_empty with (force)")


# -- settings --------------------------------------------------------------------------


async def test_bad_settings_fail_with_the_variable_named() -> None:
    def load() -> Settings:
        return settings_from(WEBHOOK_CONCURRENCY="lots")

    checks = await run_checks(load)
    assert [c.name for c in checks] == ["settings"]
    assert checks[0].status == "fail" and "WEBHOOK_CONCURRENCY='lots'" in checks[0].detail
    assert "FAIL  settings  WEBHOOK_CONCURRENCY='lots' is not allowed" in doctor.format_checks(checks)
    assert doctor.exit_code(checks) == 1


async def test_an_anon_key_on_the_supabase_path_fails() -> None:
    settings = settings_from(SUPABASE_URL="https://abc.supabase.co", SUPABASE_SERVICE_KEY=fake_jwt("anon"))
    check = by_name(await run_checks(settings))["settings"]
    assert check.status == "fail" and "role 'anon'" in check.detail and "service_role" in (check.fix or "")


async def test_both_database_url_and_supabase_url_warn_that_direct_wins(db_dsn: str) -> None:
    settings = settings_from(DATABASE_URL=db_dsn, SUPABASE_URL="https://abc.supabase.co",
                             SUPABASE_SERVICE_KEY=fake_jwt("service_role"))
    check = by_name(await run_checks(settings))["settings"]
    assert check.status == "warn" and "SUPABASE_URL is also set and is ignored" in check.detail


# -- database ----------------------------------------------------------------------------


async def test_an_unreachable_database_fails_and_skips_the_sql_checks() -> None:
    port = free_port()  # nothing listens there once the probe socket is closed
    checks = by_name(await run_checks(settings_from(DATABASE_URL=f"postgresql://app:pw@127.0.0.1:{port}/app")))
    database = checks["database"]
    assert database.status == "fail"
    assert database.detail.startswith(f"cannot connect to 127.0.0.1:{port}/app:")
    assert "start PostgreSQL" in (database.fix or "") and "pw" not in database.detail
    assert {checks[n].status for n in ("migrations", "cron", "clock")} == {"skip"}


async def test_a_fresh_database_reports_every_migration_missing(empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "20240101000000_first.sql").write_text("select 1;")
    (tmp_path / "20240102000000_second.sql").write_text("select 1;")
    checks = by_name(await run_checks(settings_from(DATABASE_URL=empty_dsn), migrations_dir=tmp_path))
    check = checks["migrations"]
    assert check.status == "fail"
    assert check.detail == "2 of 2 migrations not applied: 20240101000000_first, 20240102000000_second"
    assert "webhook-sidecar db migrate" in (check.fix or "")


@pytest.mark.skipif(not migrate.discover(), reason="no migrations in supabase/migrations yet")
async def test_a_fresh_database_misses_the_projects_own_migrations(empty_dsn: str) -> None:
    check = by_name(await run_checks(settings_from(DATABASE_URL=empty_dsn)))["migrations"]
    assert check.status == "fail" and "migrations not applied" in check.detail


async def test_a_migrated_database_has_every_migration(db_dsn: str) -> None:
    check = by_name(await run_checks(settings_from(DATABASE_URL=db_dsn)))["migrations"]
    assert check.status in ("pass", "warn") and check.ok


async def test_a_database_without_pg_cron_fails_with_what_to_schedule(db_dsn: str) -> None:
    # The clone is not pg_cron's database, so the extension cannot exist there.
    check = by_name(await run_checks(settings_from(DATABASE_URL=db_dsn)))["cron"]
    assert check.status == "fail" and "pg_cron is not installed" in check.detail
    for function in ("requeue_stale_webhook_jobs", "purge_webhook_logs", "purge_api_rate_limit_log"):
        assert function in (check.fix or "")


async def test_a_missing_cron_job_is_named(cron_db_dsn: str) -> None:
    conn = await asyncpg.connect(cron_db_dsn)
    job = await conn.fetchrow("select schedule, command from cron.job where jobname = 'webhooks-purge-logs'")
    assert job is not None, "the migrations schedule webhooks-purge-logs in pg_cron's database"
    await conn.execute("select cron.unschedule('webhooks-purge-logs')")
    try:
        check = await doctor.cron_check(conn)
    finally:
        await conn.execute("select cron.schedule('webhooks-purge-logs', $1, $2)", job["schedule"], job["command"])
        await conn.close()
    assert check.status == "fail" and check.detail == "pg_cron job(s) missing: webhooks-purge-logs"


async def test_clock_skew_over_the_limit_fails(db_dsn: str) -> None:
    def slow_clock() -> float:
        return time.time() - 10

    check = by_name(await run_checks(settings_from(DATABASE_URL=db_dsn), wall_clock=slow_clock))["clock"]
    assert check.status == "fail" and "ahead of this host" in check.detail and "NTP" in (check.fix or "")


async def test_a_migrated_database_with_cron_jobs_passes_every_check(cron_db_dsn: str) -> None:
    checks = await run_checks(settings_from(DATABASE_URL=cron_db_dsn))
    assert [c for c in checks if c.status not in ("pass",)] == []
    assert doctor.exit_code(checks) == 0
    assert doctor.format_checks(checks).endswith("no check failed (8 checks; 0 warning(s), 0 skipped)")


# -- supabase path --------------------------------------------------------------------------


async def test_the_supabase_path_probes_with_an_rpc_and_skips_sql_checks() -> None:
    settings = settings_from(SUPABASE_URL="https://abc.supabase.co", SUPABASE_SERVICE_KEY=fake_jwt("service_role"))

    async def refused() -> None:
        raise ConnectionRefusedError("connection refused")

    async def answered() -> None:
        return None

    down = by_name(await run_checks(settings, ping=refused))
    assert down["database"].status == "fail" and "RPC to https://abc.supabase.co failed" in down["database"].detail
    up = by_name(await run_checks(settings, ping=answered))
    assert up["database"].status == "pass"
    assert up["migrations"].status == "skip" and "DATABASE_URL" in up["migrations"].detail


# -- local checks ---------------------------------------------------------------------------


def test_private_targets_allowed_is_reported_as_a_warning() -> None:
    assert doctor.egress_check(settings_from()).status == "pass"
    check = doctor.egress_check(settings_from(WEBHOOK_ALLOW_PRIVATE_TARGETS="true"))
    assert check.status == "warn" and "WEBHOOK_ALLOW_PRIVATE_TARGETS=true" in check.detail


async def test_a_metrics_port_held_by_another_process_fails() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        check = await doctor.metrics_port_check(port, "127.0.0.1")
    assert check.status == "fail" and check.detail == f"127.0.0.1:{port} is in use by another process"


async def test_a_metrics_port_held_by_a_running_sidecar_passes() -> None:
    server = await serve(Metrics(), "127.0.0.1", 0)
    try:
        check = await doctor.metrics_port_check(server.port, "127.0.0.1")
    finally:
        await server.close()
    assert check.status == "pass" and "running sidecar (/healthz: ok)" in check.detail


@pytest.mark.parametrize(("port", "status"), [(None, "pass"), (0, "warn")])
async def test_metrics_port_off_or_random(port: int | None, status: str) -> None:
    assert (await doctor.metrics_port_check(port, "127.0.0.1")).status == status


# -- output -----------------------------------------------------------------------------------


def test_json_form_lists_every_check_with_its_verdict() -> None:
    checks = [Check("settings", "pass", "fine"), Check("cron", "fail", "missing", "schedule it")]
    parsed = json.loads(doctor.checks_json(checks))
    assert parsed["ok"] is False
    assert parsed["checks"][1] == {"name": "cron", "status": "fail", "ok": False, "detail": "missing",
                                   "fix": "schedule it"}


def test_people_see_the_fix_under_a_failing_line() -> None:
    text = doctor.format_checks([Check("cron", "fail", "pg_cron job(s) missing: x", "schedule x")])
    assert text.splitlines() == [
        "FAIL  cron  pg_cron job(s) missing: x",
        "            fix: schedule x",
        "1 of 1 checks failed; 0 warning(s), 0 skipped",
    ]
