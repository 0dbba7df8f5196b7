"""The README's curl commands for API v1, run as written (only the port differs) with real curl."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from tests.api.conftest import Server, add_logs, make_key, make_owner

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_BASE = "http://127.0.0.1:8787"


def readme_curls() -> list[str]:
    section = README.read_text().split("## HTTP API and dashboard", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README's HTTP API section has no sh block"
    commands = [line for line in block.group(1).splitlines() if line.startswith("curl ")]
    assert len(commands) == 3
    return commands


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_three_readme_curl_commands_work_as_written(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    [log] = await add_logs(db, owner, ["failed"])
    key = await make_key(db, owner, ["webhooks:read", "webhooks:replay"])
    env = {**os.environ, "BPC_API_KEY": key, "RULE_ID": str(owner.rule_id), "LOG_ID": str(log)}
    outputs = []
    for command in readme_curls():
        done = subprocess.run(["bash", "-c", command.replace(DEFAULT_BASE, server.base_url) + " -sS -w '\\n%{http_code}'"],
                              env=env, capture_output=True, text=True, timeout=30, check=False)
        body, _, status = done.stdout.rpartition("\n")
        outputs.append((status, body))
    (logs_status, logs), (stats_status, stats), (replay_status, replay) = outputs
    assert logs_status == "200" and str(log) in logs
    assert stats_status == "200" and '"total_calls": 1' in stats and '"failed_calls": 1' in stats
    assert replay_status == "202" and '"delivery_id"' in replay
    assert await db.fetchval("select count(*) from webhook_queue where parent_log_id = $1", log) == 1
