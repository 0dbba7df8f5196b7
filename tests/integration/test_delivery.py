"""A lead becomes one signed POST and one complete log row; secrets never reach the log."""

from __future__ import annotations

import json

import asyncpg
from standardwebhooks import Webhook

from sidecar.store.direct import DirectStore
from tests.integration.support import insert_lead, make_rule, run_once
from tests.receiver import Receiver


async def test_a_lead_insert_sends_exactly_one_post_that_standard_webhooks_verifies(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    lead = await insert_lead(db, rule.funnel_id, {"email": "ada@example.com", "name": "Zoë"})

    await run_once(store)

    assert len(receiver.hits) == 1
    hit = receiver.hits[0]
    secret = await db.fetchval("select signing_secret from webhook_configs where routing_rule_id = $1", rule.id)
    verified = Webhook(secret).verify(hit.body, hit.headers)
    assert verified["data"]["lead_id"] == str(lead)
    assert verified["data"]["lead"] == {"email": "ada@example.com", "name": "Zoë"}
    assert hit.headers["X-Lead-ID"] == str(lead)
    assert hit.headers["User-Agent"] == "BPC-Funnels/2.0"
    assert hit.headers["X-Funnel-Webhook"] == "true"


async def test_the_attempt_is_logged_completely_and_the_delivery_completed(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    lead = await insert_lead(db, rule.funnel_id)

    await run_once(store)

    log = await db.fetchrow("select * from webhook_logs")
    queue = await db.fetchrow("select * from webhook_queue")
    assert (log["lead_id"], log["routing_rule_id"], log["queue_id"]) == (lead, rule.id, queue["id"])
    assert log["webhook_url"] == receiver.url("/hook")
    assert (log["status"], log["response_status"], log["response_body"]) == ("success", 200, "ok")
    assert (log["attempt_number"], log["max_attempts"], log["is_retry"]) == (1, 4, False)
    assert log["parent_log_id"] is None and log["error_type"] is None and log["error_message"] is None
    assert log["duration_ms"] is not None and log["duration_ms"] >= 0
    assert json.loads(log["request_body"]) == json.loads(queue["payload"])
    headers = json.loads(log["request_headers"])
    assert headers["webhook-id"] == receiver.hits[0].headers["webhook-id"] == str(queue["webhook_id"])
    assert json.loads(log["response_headers"])["content-type"].startswith("text/plain")
    assert (queue["status"], queue["webhook_log_id"], queue["locked_by"]) == ("completed", log["id"], None)


async def test_the_body_sent_is_the_frozen_payload_byte_for_byte(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id, {"note": "spaces  inside, and: colons", "n": 15, "é": ["x", 1]})

    await run_once(store)

    stored = await db.fetchval("select payload::text from webhook_queue")
    expected = json.dumps(json.loads(stored), separators=(",", ":"), ensure_ascii=False).encode()
    assert receiver.hits[0].body == expected


async def test_secret_header_values_are_masked_in_the_log_but_sent_to_the_receiver(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    headers = {"Authorization": "Bearer s3cret", "X-Api-Key": "k-123", "X-Auth-Token": "t-456",
               "X-Client": "acme"}
    rule = await make_rule(db, receiver.url("/hook"), custom_headers=headers)
    await insert_lead(db, rule.funnel_id)

    await run_once(store)

    sent = receiver.hits[0].headers
    assert (sent["Authorization"], sent["X-Api-Key"], sent["X-Auth-Token"]) == ("Bearer s3cret", "k-123", "t-456")
    logged = json.loads(await db.fetchval("select request_headers from webhook_logs"))
    assert logged["Authorization"] == logged["X-Api-Key"] == logged["X-Auth-Token"] == "***"
    assert logged["webhook-signature"] == "***"
    assert logged["X-Client"] == "acme"
    assert "s3cret" not in json.dumps(logged) and "k-123" not in json.dumps(logged)


async def test_a_set_cookie_answer_is_masked_in_the_log(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    from tests.receiver import reply

    url = receiver.script("/cookie", reply(200, headers={"Set-Cookie": "session=abc"}))
    rule = await make_rule(db, url)
    await insert_lead(db, rule.funnel_id)

    await run_once(store)

    logged = json.loads(await db.fetchval("select response_headers from webhook_logs"))
    assert logged["set-cookie"] == "***"


async def test_many_leads_to_several_rules_each_arrive_once(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    first = await make_rule(db, receiver.url("/a"))
    second = await make_rule(db, receiver.url("/b"))
    await db.execute(
        "insert into leads (funnel_id, data) select f, jsonb_build_object('i', i)"
        " from unnest($1::uuid[]) f, generate_series(1, 150) i", [first.funnel_id, second.funnel_id])

    await run_once(store, concurrency=20, per_host_concurrency=5, batch_size=25)

    ids = [h.headers["webhook-id"] for h in receiver.hits]
    assert len(ids) == len(set(ids)) == 300
    assert await db.fetchval("select count(*) from webhook_queue where status = 'completed'") == 300
    assert await db.fetchval("select count(*) from webhook_logs where status = 'success'") == 300


CREDENTIAL_HEADERS = {
    "X-Auth": "a-1", "X-Password": "p-2", "X-Client-Credentials": "c-3", "X-Session-Id": "s-4",
    "X-Private-Data": "v-5", "X-Pass": "p-6", "X-JWT": "j-7", "X-CSRF": "csrf-v8",
}
SECRET_QUERY = {"access_token": "q1", "token": "q2", "key": "q3", "api_key": "q4", "apikey": "q5",
                "secret": "q6", "signature": "q7", "sig": "q8", "password": "q9", "auth": "q10",
                "code": "q11", "X-Amz-Credential": "q12", "client_secret": "q13"}


async def test_credential_headers_and_url_query_tokens_are_masked_in_the_log_but_sent(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    from urllib.parse import urlencode

    from tests.receiver import reply

    query = urlencode({"page": "2", **SECRET_QUERY, "lang": "fr"})
    url = receiver.script("/tok", reply(200, headers={"X-Session-Token": "r-1", "Set-Cookie": "sid=r-2"}))
    rule = await make_rule(db, f"{url}?{query}", custom_headers=CREDENTIAL_HEADERS)
    await insert_lead(db, rule.funnel_id)

    await run_once(store)

    assert all(receiver.hits[0].headers[name] == value for name, value in CREDENTIAL_HEADERS.items())
    log = await db.fetchrow("select webhook_url, request_headers::text, response_headers::text from webhook_logs")
    stored = " ".join([log["webhook_url"], log["request_headers"], log["response_headers"]])
    leaked = [v for v in [*CREDENTIAL_HEADERS.values(), *SECRET_QUERY.values(), "r-1", "r-2"] if f"{v}\"" in stored
              or f"={v}&" in stored or stored.endswith(f"={v}")]
    assert leaked == [], stored
    assert log["webhook_url"].startswith(f"{url}?page=2&access_token=***&token=***&")
    assert log["webhook_url"].endswith("&lang=fr")
