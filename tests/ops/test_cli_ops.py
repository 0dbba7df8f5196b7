"""The console script wires metrics, logs and doctor: checked on the real `webhook-sidecar` process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from sidecar.ops.embedded import free_port
from tests.receiver import serve_app

SCRIPT = str(Path(sys.executable).parent / "webhook-sidecar")
LEADS = 2


def sidecar_env(**settings: str) -> dict[str, str]:
    """Only PATH and the given settings: nothing from the developer's shell leaks in."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **settings}


@pytest.fixture
async def receiver_url() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/in", ok)
    async with serve_app(app) as base_url:
        yield f"{base_url}/in"


async def seed(db: asyncpg.Connection, url: str) -> None:
    owner = await db.fetchval("insert into auth.users (id, email) values (gen_random_uuid(), 'o@example.com')"
                              " returning id")
    funnel = await db.fetchval("insert into funnels (owner_id, name, status) values ($1, 'f', 'active') returning id",
                               owner)
    await db.execute("insert into routing_rules (funnel_id, client_name, webhook_url, condition, is_active)"
                     " values ($1, 'Client', $2, '{}', true)", funnel, url)
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, $2::int)",
                     funnel, LEADS)


async def get(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.text()
    except aiohttp.ClientConnectionError:
        return 0, ""


async def wait_for_successes(base: str, process: asyncio.subprocess.Process) -> str:
    wanted = f'webhook_attempts_total{{error_type="none",outcome="success",status="success"}} {LEADS}.0'
    try:
        async with asyncio.timeout(60):
            while True:
                assert process.returncode is None, "the sidecar exited early"
                status, body = await get(f"{base}/metrics")
                if status == 200 and wanted in body:
                    return body
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError("the running sidecar's /metrics never showed the deliveries") from None


async def test_run_serves_metrics_health_and_json_attempt_lines(
    db: asyncpg.Connection, db_dsn: str, receiver_url: str, tmp_path: Path,
) -> None:
    await seed(db, receiver_url)
    port = free_port()
    # One worker, so its /metrics counts every delivery (with several, each has its own port).
    env = sidecar_env(DATABASE_URL=db_dsn, WEBHOOK_METRICS_PORT=str(port), WEBHOOK_LOG_FORMAT="json",
                      WEBHOOK_LOG_LEVEL="debug", WEBHOOK_PROCESSES="1",
                      WEBHOOK_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_POLL_INTERVAL_MS="50")
    process = await asyncio.create_subprocess_exec(SCRIPT, "run", env=env, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        body = await wait_for_successes(f"http://127.0.0.1:{port}", process)
        health = await get(f"http://127.0.0.1:{port}/healthz")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "webhook_attempt_duration_seconds_count" in body and "webhook_claim_duration_seconds_count" in body
    assert health == (200, "ok\n")
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    attempts = [entry for entry in lines if entry.get("logger") == "sidecar.attempts" and "status" in entry]
    assert len(attempts) == LEADS
    assert {entry["status"] for entry in attempts} == {"success"} and attempts[0]["host"] == "127.0.0.1"


async def doctor(env: dict[str, str], cwd: Path) -> tuple[int, dict[str, object]]:
    process = await asyncio.create_subprocess_exec(SCRIPT, "doctor", "--json", env=env, cwd=cwd,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, json.loads(stdout)


async def test_doctor_exits_0_on_a_migrated_database_with_cron_jobs(cron_db_dsn: str, tmp_path: Path) -> None:
    code, report = await doctor(sidecar_env(DATABASE_URL=cron_db_dsn), tmp_path)
    assert (code, report["ok"]) == (0, True)


async def test_doctor_exits_1_and_names_the_database_it_cannot_reach(tmp_path: Path) -> None:
    port = free_port()
    code, report = await doctor(sidecar_env(DATABASE_URL=f"postgresql://app@127.0.0.1:{port}/app"), tmp_path)
    assert code == 1 and report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[attr-defined]
    assert checks["database"]["detail"].startswith(f"cannot connect to 127.0.0.1:{port}/app")


async def test_run_with_a_taken_metrics_port_exits_with_one_clear_line(db_dsn: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = sidecar_env(DATABASE_URL=db_dsn, WEBHOOK_METRICS_PORT=str(port))
        process = await asyncio.create_subprocess_exec(SCRIPT, "run", env=env, cwd=tmp_path,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode != 0
    assert f"WEBHOOK_METRICS_PORT={port}: cannot listen on 127.0.0.1:{port}: the port is in use" in stderr.decode()
    assert "Traceback" not in stderr.decode()
