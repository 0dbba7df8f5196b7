"""The same worker over the Supabase transport: pytest-httpx answers each RPC from the test database.

The stand-in plays PostgREST's part for `POST /rest/v1/rpc/<name>`: it checks the
service key, calls the function as `service_role` with the JSON body's named
arguments, and answers in PostgREST's shapes (rows as an array of objects, a scalar
bare, a single composite as an object). It is not PostgREST; it lets one worker run
end to end over the transport while a real receiver takes the webhooks.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from pytest_httpx import HTTPXMock

from sidecar.store import TransientStoreError
from sidecar.store.postgrest import PostgrestStore
from tests.integration.support import insert_lead, make_rule, run_once
from tests.receiver import Receiver, reply

URL = "https://project.supabase.test"
KEY = "service-role-key"

SIGNATURE = """
select p.proargnames[1:p.pronargs] as names, p.proargtypes::regtype[]::text[] as types,
       p.proretset as returns_set, t.typtype = 'c' as returns_row
from pg_proc p join pg_type t on t.oid = p.prorettype
where p.pronamespace = 'public'::regnamespace and p.proname = $1
"""


def argument(name: str, type_: str) -> str:
    if type_.endswith("[]"):
        return f"array(select jsonb_array_elements_text($1::jsonb -> '{name}'))::{type_}"
    if type_ == "jsonb":
        return f"($1::jsonb -> '{name}')"
    return f"($1::jsonb ->> '{name}')::{type_}"


async def call_as_postgrest(pool: asyncpg.Pool, name: str, args: dict[str, Any]) -> Any:
    async with pool.acquire() as conn, conn.transaction():
        sig = await conn.fetchrow(SIGNATURE, name)
        call_args = ", ".join(f"{n} => {argument(n, t)}" for n, t in zip(sig["names"], sig["types"]) if n in args)
        await conn.execute("set local role service_role")
        params = [json.dumps(args)] if call_args else []
        if sig["returns_set"]:
            rows = await conn.fetch(f"select to_jsonb(r)::text from public.{name}({call_args}) r", *params)
            return [json.loads(r[0]) for r in rows]
        value = await conn.fetchval(f"select to_jsonb(public.{name}({call_args}))::text", *params)
        return json.loads(value)


class FakePostgrest:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.calls: list[str] = []
        self.fail_next: dict[str, int] = {}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.removeprefix("/rest/v1/rpc/")
        self.calls.append(name)
        if request.headers.get("authorization") != f"Bearer {KEY}" or request.headers.get("apikey") != KEY:
            return httpx.Response(401, json={"code": "PGRST301", "message": "bad key"})
        if self.fail_next.get(name):
            self.fail_next[name] -= 1
            return httpx.Response(503, json={"code": "PGRST001", "message": "Database client error"})
        return httpx.Response(200, json=await call_as_postgrest(self.pool, name, json.loads(request.content)))


@pytest.fixture
async def postgrest(db_dsn: str, httpx_mock: HTTPXMock) -> AsyncIterator[FakePostgrest]:
    pool = await asyncpg.create_pool(db_dsn, min_size=1, max_size=4)
    fake = FakePostgrest(pool)
    rpc_url = re.compile(rf"^{re.escape(URL)}/rest/v1/rpc/\w+$")
    httpx_mock.add_callback(fake, url=rpc_url, method="POST", is_reusable=True, is_optional=True)
    try:
        yield fake
    finally:
        await pool.close()


@pytest.fixture
async def rest_store(postgrest: FakePostgrest) -> AsyncIterator[PostgrestStore]:
    store = await PostgrestStore.connect(URL, KEY)
    try:
        yield store
    finally:
        await store.close()


async def test_the_worker_delivers_and_records_over_postgrest(
    db: asyncpg.Connection, rest_store: PostgrestStore, postgrest: FakePostgrest, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    lead = await insert_lead(db, rule.funnel_id)

    await run_once(rest_store)

    assert [h.headers["X-Lead-ID"] for h in receiver.hits] == [str(lead)]
    log = await db.fetchrow("select * from webhook_logs")
    assert (log["status"], log["response_status"], log["attempt_number"]) == ("success", 200, 1)
    assert await db.fetchval("select status from webhook_queue") == "completed"
    assert {"claim_webhook_jobs", "record_webhook_attempts"} <= set(postgrest.calls)


async def test_retries_and_replays_work_over_postgrest(
    db: asyncpg.Connection, rest_store: PostgrestStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.script("/flaky", reply(500), reply(200)), retry_delay_ms=100)
    await insert_lead(db, rule.funnel_id)

    await run_once(rest_store)
    await db.execute("update webhook_queue set scheduled_at = now() where status = 'pending'")
    await run_once(rest_store)
    success = await db.fetchval("select id from webhook_logs where status = 'success'")
    replay = await rest_store.replay(success)
    await run_once(rest_store)

    statuses = [r["status"] for r in await db.fetch("select status from webhook_logs order by created_at")]
    assert statuses == ["retrying", "success", "success"]
    assert (await rest_store.logs(queue_id=replay))[0]["parent_log_id"] == str(success)
    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 1


async def test_a_postgrest_outage_during_claim_and_record_delays_but_loses_nothing(
    db: asyncpg.Connection, rest_store: PostgrestStore, postgrest: FakePostgrest, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    for _ in range(5):
        await insert_lead(db, rule.funnel_id)
    postgrest.fail_next = {"claim_webhook_jobs": 2, "record_webhook_attempts": 2}

    await run_once(rest_store)

    assert postgrest.fail_next == {"claim_webhook_jobs": 0, "record_webhook_attempts": 0}
    assert len(receiver.hits) == 5
    assert await db.fetchval("select count(*) from webhook_logs") == 5
    assert await db.fetchval("select count(*) from webhook_queue where status = 'completed'") == 5


async def test_the_cli_reads_work_over_postgrest(
    db: asyncpg.Connection, rest_store: PostgrestStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    await run_once(rest_store)

    stats = await rest_store.stats(rule.id, 7)
    summary = {r["status"]: r["deliveries"] for r in await rest_store.queue_summary()}
    config = await rest_store.update_config(rule.id, {"timeout_ms": 2500})
    effective = await rest_store.get_config(rule.id)

    assert (stats["total_calls"], stats["success_rate"]) == (1, 100)
    assert summary == {"pending": 0, "processing": 0, "completed": 1, "failed": 0}
    assert config["timeout_ms"] == effective["timeout_ms"] == 2500


async def test_a_transient_error_reaches_the_caller_as_transient(
    rest_store: PostgrestStore, postgrest: FakePostgrest
) -> None:
    postgrest.fail_next = {"webhook_queue_summary": 1}

    with pytest.raises(TransientStoreError):
        await rest_store.queue_summary()
