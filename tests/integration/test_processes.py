"""`run` with WEBHOOK_PROCESSES=2: two real worker processes share one queue and stop as one service."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from pathlib import Path

import asyncpg
from aiohttp import web

from tests.integration.support import make_rule
from tests.integration.test_cli import EXE, env, sidecar  # noqa: F401  (env is a fixture)
from tests.receiver import Receiver


async def test_two_processes_deliver_everything_once_each_and_both_take_part(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, 400)", rule.funnel_id)

    code, _, err = await sidecar({**env, "WEBHOOK_PROCESSES": "2", "WEBHOOK_WORKER_ID": "svc",
                                  "WEBHOOK_BATCH_SIZE": "10"}, "run", "--once")

    assert code == 0, err
    assert "running 2 worker processes" in err
    assert await db.fetchval("select count(*) from webhook_queue where status = 'completed'") == 400
    assert "worker svc-1 delivering" in err and "worker svc-2 delivering" in err
    made = [int(n) for n in re.findall(r"stopped: (\d+) attempts", err)]
    assert len(made) == 2 and min(made) > 0 and sum(made) == 400, err  # both took part
    ids = [h.headers["webhook-id"] for h in receiver.hits]
    assert len(ids) == len(set(ids)) == 400


async def test_sigterm_reaches_every_process_and_nothing_is_left_processing(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    arrived = 0
    both = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        if arrived >= 4:
            both.set()
        await asyncio.sleep(1.0)
        return web.Response(text="done")

    rule = await make_rule(db, receiver.script("/slow", slow))
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, 80)", rule.funnel_id)
    proc = await asyncio.create_subprocess_exec(
        EXE, "run", env={**env, "WEBHOOK_PROCESSES": "2", "WEBHOOK_CONCURRENCY": "4", "WEBHOOK_BATCH_SIZE": "2"},
        cwd=Path(env["WEBHOOK_DATA_DIR"]).parent, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        await both.wait()
        proc.send_signal(signal.SIGTERM)
        _, err = await proc.communicate()

    assert proc.returncode == 0, err.decode()
    assert err.decode().count("stopped:") == 2  # each worker's own graceful-stop line
    assert await db.fetchval("select count(*) from webhook_queue where status = 'processing'") == 0
    logged = {str(r["webhook_id"]) for r in await db.fetch("select webhook_id from webhook_logs")}
    assert logged == {h.headers["webhook-id"] for h in receiver.hits}


async def test_a_worker_that_fails_stops_the_others_and_the_service_exits_1(env: dict[str, str]) -> None:
    with socket.socket() as taken:  # the first worker's metrics port is in use, so that worker exits 1
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = await sidecar({**env, "WEBHOOK_PROCESSES": "2", "WEBHOOK_METRICS_PORT": str(port)},
                                     "run", limit_s=60)

    # `run` never ends by itself: it returned because the other worker was stopped too
    # (gracefully, or killed by the signal when it came before the worker set its handler).
    assert code == 1, err
    assert "stopping the others" in err


async def test_one_off_commands_never_start_worker_processes(env: dict[str, str]) -> None:
    code, out, err = await sidecar({**env, "WEBHOOK_PROCESSES": "2"}, "queue", "--json")
    assert code == 0, err
    assert "worker processes" not in err
