"""The real `webhook-sidecar` process: run --once, SIGTERM, replay, reads, config, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from tests.integration.support import insert_lead, make_rule
from tests.receiver import Receiver, reply

EXE = str(Path(sys.executable).parent / "webhook-sidecar")
_TRANSPORT_VARS = ("DATABASE_URL", "SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL", "SUPABASE_SERVICE_KEY",
                   "SUPABASE_SERVICE_ROLE_KEY", "WEBHOOK_DATA_DIR")


@pytest.fixture
def env(db_dsn: str, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in _TRANSPORT_VARS}
    return {**base, "DATABASE_URL": db_dsn, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "WEBHOOK_POLL_INTERVAL_MS": "100", "WEBHOOK_DATA_DIR": str(tmp_path / "unused")}


async def sidecar(env: dict[str, str], *args: str, cwd: Path | None = None,
                  limit_s: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        EXE, *args, env=env, cwd=cwd or Path(env["WEBHOOK_DATA_DIR"]).parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(limit_s):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_run_once_exits_when_nothing_is_due_and_leaves_later_retries_pending(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    ok = await make_rule(db, receiver.url("/ok"))
    down = await make_rule(db, receiver.script("/down", reply(500)), retry_delay_ms=600_000)
    await insert_lead(db, ok.funnel_id)
    await insert_lead(db, down.funnel_id)

    code, _, err = await sidecar(env, "run", "--once")

    assert code == 0, err
    rows = {r["routing_rule_id"]: r for r in await db.fetch("select * from webhook_queue")}
    assert rows[ok.id]["status"] == "completed"
    assert (rows[down.id]["status"], rows[down.id]["attempt_number"]) == ("pending", 2)
    assert len(receiver.hits) == 2


async def test_sigterm_mid_run_finishes_in_flight_attempts_and_leaves_nothing_processing(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    started = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(1.0)
        return web.Response(text="done")

    rule = await make_rule(db, receiver.script("/slow", slow))
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, 60)", rule.funnel_id)
    proc = await asyncio.create_subprocess_exec(
        EXE, "run", env={**env, "WEBHOOK_CONCURRENCY": "10", "WEBHOOK_BATCH_SIZE": "5"},
        cwd=Path(env["WEBHOOK_DATA_DIR"]).parent, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        await started.wait()
        proc.send_signal(signal.SIGTERM)
        _, err = await proc.communicate()

    assert proc.returncode == 0, err.decode()
    assert await db.fetchval("select count(*) from webhook_queue where status = 'processing'") == 0
    logged = {str(r["webhook_id"]) for r in await db.fetch("select webhook_id from webhook_logs")}
    received = {h.headers["webhook-id"] for h in receiver.hits}
    assert received and received == logged  # every attempt that reached the receiver was recorded
    assert await db.fetchval("select count(*) from webhook_queue where status = 'pending'") == 60 - len(received)


async def test_replay_command_delivers_it_and_prints_the_new_attempt(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    assert (await sidecar(env, "run", "--once"))[0] == 0
    log_id = await db.fetchval("select id from webhook_logs")

    code, out, err = await sidecar(env, "--json", "replay", str(log_id))

    assert code == 0, err
    printed = json.loads(out)
    assert printed["parent_log_id"] == str(log_id) and printed["status"] == "success"
    assert printed["is_retry"] is True
    assert receiver.hits[0].headers["webhook-id"] == receiver.hits[1].headers["webhook-id"]


async def test_replay_command_works_while_a_worker_is_running(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    worker = await asyncio.create_subprocess_exec(
        EXE, "run", env=env, cwd=Path(env["WEBHOOK_DATA_DIR"]).parent,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(30):
            while not await db.fetchval("select id from webhook_logs"):
                await asyncio.sleep(0.05)
        log_id = await db.fetchval("select id from webhook_logs")

        code, out, err = await sidecar(env, "replay", str(log_id))
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), 30)

    assert code == 0, err
    assert str(log_id) in out and "success" in out
    assert len(receiver.hits) == 2  # delivered once, by whichever process claimed it


async def test_logs_stats_and_queue_print_tables_and_json(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    await sidecar(env, "run", "--once")

    logs_code, logs_out, _ = await sidecar(env, "--json", "logs", "--rule", str(rule.id))
    stats_code, stats_out, _ = await sidecar(env, "stats", str(rule.id), "--json")
    queue_code, queue_out, _ = await sidecar(env, "queue")

    assert (logs_code, stats_code, queue_code) == (0, 0, 0)
    assert [r["status"] for r in json.loads(logs_out)] == ["success"]
    stats = json.loads(stats_out)
    assert (stats["total_calls"], stats["success_calls"], stats["success_rate"]) == (1, 1, 100.0)
    completed = next(line for line in queue_out.splitlines() if line.startswith("completed"))
    assert completed.split()[1] == "1"


async def test_config_command_changes_settings_and_headers_and_masks_the_secret(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"), custom_headers={"X-Old": "1"})
    before = await db.fetchval("select signing_secret from webhook_configs where routing_rule_id = $1", rule.id)

    code, out, err = await sidecar(env, "config", str(rule.id), "--timeout-ms", "2500", "--no-retry",
                                   "--header", "X-Client: acme", "--remove-header", "x-old")
    rotated_code, rotated_out, _ = await sidecar(env, "--json", "config", str(rule.id), "--rotate-secret")

    assert code == 0, err
    assert before not in out and "--show-secret" in out
    row = await db.fetchrow("select * from webhook_configs where routing_rule_id = $1", rule.id)
    assert (row["timeout_ms"], row["retry_enabled"]) == (2500, False)
    assert json.loads(row["custom_headers"]) == {"X-Client": "acme"}
    assert rotated_code == 0
    assert json.loads(rotated_out)["signing_secret"] == row["signing_secret"] != before


async def test_a_config_value_the_database_refuses_exits_1_with_its_reason(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))

    code, _, err = await sidecar(env, "config", str(rule.id), "--timeout-ms", "999999")

    assert code == 1
    assert "timeout_ms must be between 100 and 300000" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("setting", ["WEBHOOK_CONCURRENCY=lots", "WEBHOOK_LOG_FORMAT=xml",
                                     "DATABASE_URL=mysql://nope"])
async def test_a_bad_setting_exits_2_with_a_one_line_reason(env: dict[str, str], setting: str) -> None:
    name, value = setting.split("=", 1)

    code, out, err = await sidecar({**env, name: value}, "queue")

    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and name in err


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["stats", "not-a-uuid"], ["logs", "--limit", "x"]])
async def test_bad_usage_exits_2_with_a_one_line_reason(env: dict[str, str], args: list[str]) -> None:
    code, _, err = await sidecar(env, *args)

    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "error:" in err


async def test_an_unreachable_database_exits_1_with_a_one_line_reason(env: dict[str, str]) -> None:
    from sidecar.ops.embedded import free_port

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"

    code, _, err = await sidecar({**env, "DATABASE_URL": dead}, "queue")

    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "unreachable" in err


async def test_with_both_urls_set_the_direct_connection_wins_and_says_so(env: dict[str, str]) -> None:
    code, _, err = await sidecar({**env, "SUPABASE_URL": "https://x.supabase.co",
                                  "SUPABASE_SERVICE_KEY": "k"}, "queue")

    assert code == 0
    assert "using DATABASE_URL" in err


async def test_logs_and_replay_show_a_row_nested_thousands_deep_without_crashing(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/deep"))
    await insert_lead(db, rule.funnel_id)
    assert (await sidecar(env, "run", "--once"))[0] == 0
    deep = '{"lead": ' + "[" * 5000 + "]" * 5000 + "}"  # older than the leads' depth limit, or written by hand
    log_id = await db.fetchval("update webhook_logs set request_body = $1::jsonb, response_headers = $1::jsonb"
                               " returning id", deep)

    for args in (["logs"], ["--json", "logs"], ["replay", str(log_id)], ["--json", "replay", str(log_id)]):
        code, out, err = await sidecar(env, *args)
        assert code == 0 and "Traceback" not in err and "RecursionError" not in out + err, (args, err[-2000:])
        assert "nested deeper than 100 levels" in out or args[0] != "--json", (args, out[-500:])
    assert receiver.hits[-1].body == deep.replace(" ", "").encode()  # the replay sent every level
