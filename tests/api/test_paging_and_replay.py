"""Cursor paging while logs arrive, and a replay that waits for the attempt a running worker makes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web

from tests.api.conftest import Server, add_logs, make_owner
from tests.receiver import serve_app

P = "/api/v1/webhooks"


async def test_following_next_cursor_visits_every_row_once_while_logs_arrive(
    server: Server, db: asyncpg.Connection
) -> None:
    owner = await make_owner(db)
    existing = await add_logs(db, owner, ["success", "failed"] * 11, step_s=0.5)  # 22 rows
    seen: list[str] = []
    cursor = None
    async with server.client(owner.jwt) as client:
        for page in range(20):  # noqa: B007 - counted below
            params = {"routing_rule_id": str(owner.rule_id), "limit": 5, **({"cursor": cursor} if cursor else {})}
            answer = (await client.get(f"{P}/logs", params=params)).json()
            seen += [r["id"] for r in answer["data"]]
            await add_logs(db, owner, ["success"], step_s=0)  # a new attempt lands between pages
            cursor = answer["next_cursor"]
            if cursor is None:
                break
    assert seen == [str(i) for i in reversed(existing)]
    assert page == 4  # 5 + 5 + 5 + 5 + 2


@pytest.fixture
async def receiver_url() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", ok)
    async with serve_app(app) as base_url:
        yield f"{base_url}/hook"


async def test_replay_with_wait_answers_200_with_the_new_attempt(
    server: Server, db: asyncpg.Connection, receiver_url: str, worker: subprocess.Popen[str]
) -> None:
    owner = await make_owner(db, url=receiver_url)
    [log] = await add_logs(db, owner, ["failed"])
    async with server.client(owner.jwt) as client:
        response = await client.post(f"{P}/replay/{log}", params={"wait": "20"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    attempt = data["log"]
    assert attempt["queue_id"] == data["delivery_id"] and attempt["parent_log_id"] == str(log)
    assert attempt["status"] == "success" and attempt["response_status"] == 200 and attempt["is_retry"] is True
    assert json.loads(attempt["response_body"]) == {"ok": True}
