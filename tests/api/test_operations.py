"""Pause/resume, recover, cancel, test deliveries and events through the API.

They wrap recover_webhook_deliveries, cancel_webhook_deliveries, send_test_webhook,
webhook_events and the paused config key; a database whose migrations lack one of
them answers 501 naming the migrations.
"""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from tests.api.conftest import Owner, Server, add_logs, make_key, make_owner
from tests.api.test_routes import assert_error

P = "/api/v1/webhooks"
async def pending_delivery(db: asyncpg.Connection, owner: Owner) -> uuid.UUID:
    lead = await db.fetchval("insert into leads (funnel_id, data) values ($1, '{}') returning id", owner.funnel_id)
    return await db.fetchval("select id from webhook_queue where lead_id = $1", lead)


async def test_pause_and_resume_show_in_the_rules_list_and_config(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    async with server.client(owner.jwt) as client:
        paused = (await client.patch(f"{P}/config/{owner.rule_id}", json={"paused": True})).json()["data"]
        [rule] = (await client.get(f"{P}/rules")).json()["data"]
        resumed = (await client.patch(f"{P}/config/{owner.rule_id}", json={"paused": False})).json()["data"]
    assert paused["paused_at"] is not None and paused["paused_reason"] == "manual"
    assert rule["paused_at"] == paused["paused_at"] and rule["paused_reason"] == "manual"
    assert resumed["paused_at"] is None


async def test_new_config_keys_are_read_and_written(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    async with server.client(owner.jwt) as client:
        data = (await client.patch(f"{P}/config/{owner.rule_id}", json={
            "auto_pause_after_failures": 5, "max_requests_per_second": 2.5})).json()["data"]
        refused = await client.patch(f"{P}/config/{owner.rule_id}", json={"auto_pause_after_failures": 0})
    assert data["auto_pause_after_failures"] == 5 and data["max_requests_per_second"] == 2.5
    assert assert_error(refused, 400)["field"] == "auto_pause_after_failures"


async def test_recover_requeues_failed_deliveries_once(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    delivery = await pending_delivery(db, owner)
    await db.execute("update webhook_queue set status = 'failed', completed_at = now(), error_message = 'HTTP 500'"
                     " where id = $1", delivery)
    key = await make_key(db, owner, ["webhooks:replay"])
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat()
    async with server.client(key) as client:
        first = await client.post(f"{P}/recover", json={"routing_rule_id": str(owner.rule_id), "since": since})
        second = await client.post(f"{P}/recover", json={"routing_rule_id": str(owner.rule_id), "since": since})
    assert first.status_code == 200 and first.json() == {"data": {"requeued": 1}}
    assert second.json() == {"data": {"requeued": 0}}


async def test_recover_needs_a_since_and_a_rule(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    async with server.client(owner.jwt) as client:
        no_since = await client.post(f"{P}/recover", json={"routing_rule_id": str(owner.rule_id)})
        no_rule = await client.post(f"{P}/recover", json={"since": "2026-12-01T00:00:00Z"})
        bad_until = await client.post(f"{P}/recover", json={"routing_rule_id": str(owner.rule_id),
                                                             "since": "2026-12-01T00:00:00Z", "until": "soon"})
    assert assert_error(no_since, 400, "since")["parameter"] == "since"
    assert assert_error(no_rule, 400, "routing_rule_id")["parameter"] == "routing_rule_id"
    assert assert_error(bad_until, 400, "until")["parameter"] == "until"


async def test_cancel_fails_pending_deliveries_without_sending(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    delivery = await pending_delivery(db, owner)
    read_only = await make_key(db, owner, ["webhooks:read"])
    async with server.client(read_only) as client:
        assert_error(await client.post(f"{P}/cancel/{owner.rule_id}"), 403, "webhooks:write")
    async with server.client(owner.jwt) as client:
        answer = await client.post(f"{P}/cancel/{owner.rule_id}")
    assert answer.json() == {"data": {"cancelled": 1}}
    row = await db.fetchrow("select status, error_message from webhook_queue where id = $1", delivery)
    assert (row["status"], row["error_message"]) == ("failed", "cancelled")


async def test_a_test_delivery_is_queued_for_the_rule(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    other = await make_owner(db)
    async with server.client(owner.jwt) as client:
        answer = await client.post(f"{P}/test/{owner.rule_id}")
        theirs = await client.post(f"{P}/test/{other.rule_id}")
    assert answer.status_code == 202
    delivery = uuid.UUID(answer.json()["data"]["delivery_id"])
    assert await db.fetchval("select routing_rule_id from webhook_queue where id = $1", delivery) == owner.rule_id
    assert_error(theirs, 404, "not found")


async def test_events_list_the_rules_own_events(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    await db.execute("insert into webhook_events (routing_rule_id, funnel_id, type, detail)"
                     " values ($1, $2, 'rule.paused', '{\"reason\": \"manual\"}')", owner.rule_id, owner.funnel_id)
    async with server.client(owner.jwt) as client:
        [event] = (await client.get(f"{P}/events", params={"routing_rule_id": str(owner.rule_id)})).json()["data"]
    assert event["type"] == "rule.paused" and event["detail"] == {"reason": "manual"}
    assert event["routing_rule_id"] == str(owner.rule_id)


async def test_a_database_without_the_functions_answers_501(server: Server, db: asyncpg.Connection) -> None:
    await db.execute("drop function cancel_webhook_deliveries(uuid) cascade")
    await db.execute("drop table webhook_events cascade")
    owner = await make_owner(db)
    await add_logs(db, owner, ["success"])
    async with server.client(owner.jwt) as client:
        answer = await client.post(f"{P}/cancel/{owner.rule_id}")
        events = await client.get(f"{P}/events", params={"routing_rule_id": str(owner.rule_id)})
        theirs = await client.post(f"{P}/cancel/{(await make_owner(db)).rule_id}")
    assert_error(answer, 501, "migrations")
    assert_error(events, 501, "migrations")
    assert_error(theirs, 404)  # ownership is still checked first
