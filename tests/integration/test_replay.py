"""Replay: the same body and webhook-id again, a new delivery linked to the replayed log."""

from __future__ import annotations

import asyncpg

from sidecar.store.direct import DirectStore
from tests.integration.support import insert_lead, make_rule, run_once
from tests.receiver import Receiver, reply


async def test_a_replay_sends_the_same_body_and_webhook_id_and_links_to_the_replayed_log(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    await run_once(store)
    original = await db.fetchrow("select * from webhook_logs")

    replay_id = await store.replay(original["id"])
    await run_once(store)

    first, again = receiver.hits
    assert again.body == first.body
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.headers["webhook-signature"] != "" and again.headers["X-Lead-ID"] == first.headers["X-Lead-ID"]
    log = await db.fetchrow("select * from webhook_logs where queue_id = $1", replay_id)
    assert (log["status"], log["attempt_number"], log["is_retry"]) == ("success", 1, True)
    assert log["parent_log_id"] == original["id"]


async def test_a_replay_of_a_replay_keeps_the_first_webhook_id_and_chains_its_logs(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    await run_once(store)
    original = await db.fetchval("select id from webhook_logs")
    first_replay = await store.replay(original)
    await run_once(store)
    replayed_log = await db.fetchval("select id from webhook_logs where queue_id = $1", first_replay)

    second_replay = await store.replay(replayed_log)
    await run_once(store)

    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 1
    assert len({h.body for h in receiver.hits}) == 1
    parent = await db.fetchval("select parent_log_id from webhook_logs where queue_id = $1", second_replay)
    assert parent == replayed_log


async def test_a_replay_goes_to_the_rules_current_url_and_failed_replays_retry(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.script("/old", reply(500)), retry_enabled=False)
    await insert_lead(db, rule.funnel_id)
    await run_once(store)
    failed = await db.fetchval("select id from webhook_logs")
    new_url = receiver.script("/new", reply(503), reply(200))
    await db.execute("update routing_rules set webhook_url = $1 where id = $2", new_url, rule.id)
    await db.execute("update webhook_configs set retry_enabled = true, retry_delay_ms = 100 where routing_rule_id = $1",
                     rule.id)

    replay_id = await store.replay(failed)
    await run_once(store)
    await db.execute("update webhook_queue set scheduled_at = now() where status = 'pending'")
    await run_once(store)

    assert [h.path for h in receiver.hits] == ["/old", "/new", "/new"]
    chain = await db.fetch("select * from webhook_logs where queue_id = $1 order by attempt_number", replay_id)
    assert [r["status"] for r in chain] == ["retrying", "success"]
    assert [r["parent_log_id"] for r in chain] == [failed, chain[0]["id"]]
    assert all(r["is_retry"] for r in chain)
