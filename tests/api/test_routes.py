"""Every route of API v1 against a real `serve` process and database, with both token kinds."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.api.conftest import Server, add_logs, make_key, make_owner, mint_jwt

P = "/api/v1/webhooks"


def assert_error(response: httpx.Response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    assert "Traceback" not in response.text and 'File "' not in response.text
    for word in words:
        assert word in body["error"]["message"]
    return body["error"]


async def test_rules_list_the_callers_rules_for_a_jwt_and_a_key(server: Server, db: asyncpg.Connection) -> None:
    owner, other = await make_owner(db), await make_owner(db, client="Other Co")
    key = await make_key(db, owner, ["webhooks:read"])
    for token in (owner.jwt, key):
        async with server.client(token) as client:
            answer = (await client.get(f"{P}/rules")).json()
        assert [r["routing_rule_id"] for r in answer["data"]] == [str(owner.rule_id)]
    rule = answer["data"][0]
    assert rule["funnel_name"] == "Spring webinar" and rule["client_name"] == "Acme CRM"
    assert {"funnel_id", "webhook_url", "is_active", "paused_at", "paused_reason"} <= set(rule)
    assert str(other.rule_id) not in str(answer)
    assert (rule["pending_deliveries"], rule["held_deliveries"]) == (0, 0)


async def test_rules_count_pending_and_held_deliveries(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    await add_logs(db, owner, ["success", "failed"])  # each log's lead enqueued a pending delivery
    async with server.client(owner.jwt) as client:
        [due] = (await client.get(f"{P}/rules")).json()["data"]
        await db.execute("update routing_rules set is_active = false where id = $1", owner.rule_id)
        [held] = (await client.get(f"{P}/rules")).json()["data"]
    assert (due["pending_deliveries"], due["held_deliveries"]) == (2, 0)
    assert (held["pending_deliveries"], held["held_deliveries"], held["is_active"]) == (2, 2, False)


async def test_a_missing_or_bad_token_is_401_with_a_bearer_challenge(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    cases = [None, "Basic abc", "Bearer bpc_" + "0" * 48, "Bearer not-a-jwt",
             "Bearer " + mint_jwt(owner.id, secret="another-secret-of-at-least-32-chars!"),
             "Bearer " + mint_jwt(owner.id, exp=1), "Bearer " + mint_jwt(owner.id, aud="anon")]
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        for header in cases:
            response = await client.get(f"{P}/rules", headers={"Authorization": header} if header else {})
            assert_error(response, 401)
            assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_logs_filter_by_status_and_window(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    ids = await add_logs(db, owner, ["success", "failed", "success", "retrying"], step_s=60)
    async with server.client(owner.jwt) as client:
        failed = (await client.get(f"{P}/logs", params={"routing_rule_id": str(owner.rule_id),
                                                          "status": "failed"})).json()
        everything = (await client.get(f"{P}/logs", params={"routing_rule_id": str(owner.rule_id)})).json()
        rows = everything["data"]
        window = (await client.get(f"{P}/logs", params={
            "routing_rule_id": str(owner.rule_id), "since": rows[2]["created_at"],
            "until": rows[0]["created_at"]})).json()
    assert [r["id"] for r in failed["data"]] == [str(ids[1])]
    assert [r["id"] for r in rows] == [str(i) for i in reversed(ids)] and everything["next_cursor"] is None
    assert [r["id"] for r in window["data"]] == [str(ids[2]), str(ids[1])]
    log = rows[0]
    assert {"lead_id", "request_headers", "request_body", "response_status", "response_headers", "response_body",
            "duration_ms", "attempt_number", "max_attempts", "is_retry", "parent_log_id", "status",
            "error_message", "error_type", "created_at", "queue_id", "webhook_url"} <= set(log)


@pytest.mark.parametrize(("params", "name"), [
    ({"status": "exploded"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"),
    ({"limit": "many"}, "limit"), ({"since": "yesterday"}, "since"), ({"until": "12/01/2026"}, "until"),
    ({"cursor": "garbage!"}, "cursor"), ({"routing_rule_id": "rule-1"}, "routing_rule_id"),
])
async def test_a_bad_logs_parameter_is_a_400_naming_it(server: Server, db: asyncpg.Connection,
                                                        params: dict, name: str) -> None:
    owner = await make_owner(db)
    async with server.client(owner.jwt) as client:
        response = await client.get(f"{P}/logs", params={"routing_rule_id": str(owner.rule_id), **params})
    assert assert_error(response, 400, name)["parameter"] == name


async def test_another_owners_rule_and_log_are_404(server: Server, db: asyncpg.Connection) -> None:
    owner, other = await make_owner(db), await make_owner(db)
    [their_log] = await add_logs(db, other, ["failed"])
    key = await make_key(db, owner, ["webhooks:read", "webhooks:replay", "webhooks:write"])
    for token in (owner.jwt, key):
        async with server.client(token) as client:
            rule = str(other.rule_id)
            for response in (
                await client.get(f"{P}/logs", params={"routing_rule_id": rule}),
                await client.get(f"{P}/logs/{their_log}"),
                await client.get(f"{P}/stats", params={"routing_rule_id": rule}),
                await client.get(f"{P}/config/{rule}"),
                await client.patch(f"{P}/config/{rule}", json={"timeout_ms": 5000}),
                await client.post(f"{P}/replay/{their_log}"),
                await client.get(f"{P}/logs/{uuid.uuid4()}"),
            ):
                assert_error(response, 404, "not found")
    assert await db.fetchval("select count(*) from webhook_queue where parent_log_id = $1", their_log) == 0


async def test_log_detail_carries_the_retry_chain(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    first, second = await add_logs(db, owner, ["retrying", "success"])
    await db.execute("update webhook_logs set webhook_id = (select webhook_id from webhook_logs where id = $1),"
                     " parent_log_id = $1, attempt_number = 2, is_retry = true where id = $2", first, second)
    async with server.client(owner.jwt) as client:
        answer = (await client.get(f"{P}/logs/{second}")).json()
        bad = await client.get(f"{P}/logs/not-a-uuid")
    assert answer["data"]["id"] == str(second) and answer["data"]["parent_log_id"] == str(first)
    assert [r["id"] for r in answer["chain"]] == [str(first), str(second)]
    assert assert_error(bad, 400, "log_id")["parameter"] == "log_id"


async def test_stats_equal_get_webhook_stats_with_a_series(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    await add_logs(db, owner, ["success", "failed", "success", "success", "retrying"], step_s=3000)
    key = await make_key(db, owner, ["webhooks:read"])
    expected = dict(await db.fetchrow("select * from get_webhook_stats($1, 30)", owner.rule_id))
    for token in (owner.jwt, key):
        async with server.client(token) as client:
            data = (await client.get(f"{P}/stats", params={"routing_rule_id": str(owner.rule_id),
                                                             "days": 30, "series": "hour"})).json()["data"]
        assert {k: data[k] for k in expected} == {k: float(v) if not isinstance(v, int) else v
                                                  for k, v in expected.items()}
        assert sum(b["total_calls"] for b in data["series"]) == expected["total_calls"] == 5
    async with server.client(owner.jwt) as client:
        for params, name in (({"days": "0"}, "days"), ({"series": "week"}, "series"), ({}, "routing_rule_id")):
            response = await client.get(f"{P}/stats", params={"routing_rule_id": str(owner.rule_id), **params}
                                        if name != "routing_rule_id" else {})
            assert assert_error(response, 400, name)["parameter"] == name


async def test_replay_is_202_with_the_new_delivery(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    [log] = await add_logs(db, owner, ["failed"])
    key = await make_key(db, owner, ["webhooks:replay"])
    async with server.client(key) as client:
        response = await client.post(f"{P}/replay/{log}")
        waited = await client.post(f"{P}/replay/{log}", params={"wait": "0.3"})  # no worker: not by then
        too_long = await client.post(f"{P}/replay/{log}", params={"wait": "31"})
    assert response.status_code == 202 and waited.status_code == 202
    delivery = response.json()["data"]["delivery_id"]
    assert "log" not in waited.json()["data"]
    row = await db.fetchrow("select parent_log_id, status from webhook_queue where id = $1", uuid.UUID(delivery))
    assert row["parent_log_id"] == log and row["status"] == "pending"
    assert assert_error(too_long, 400, "wait")["parameter"] == "wait"


async def test_a_missing_scope_is_403(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    [log] = await add_logs(db, owner, ["failed"])
    read_only = await make_key(db, owner, ["webhooks:read"])
    replay_only = await make_key(db, owner, ["webhooks:replay"])
    async with server.client(read_only) as client:
        assert_error(await client.post(f"{P}/replay/{log}"), 403, "webhooks:replay")
        assert_error(await client.patch(f"{P}/config/{owner.rule_id}", json={"timeout_ms": 5000}), 403,
                     "webhooks:write")
    async with server.client(replay_only) as client:
        assert_error(await client.get(f"{P}/rules"), 403, "webhooks:read")


async def test_over_the_keys_limit_is_429_with_retry_after(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    key = await make_key(db, owner, ["webhooks:read"], limit=2)
    async with server.client(key) as client:
        answers = [await client.get(f"{P}/rules") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert_error(answers[2], 429, "rate limit")
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60


async def test_config_read_and_write_with_the_field_of_a_refusal(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    writer = await make_key(db, owner, ["webhooks:read", "webhooks:write"])
    async with server.client(writer) as client:
        before = (await client.get(f"{P}/config/{owner.rule_id}")).json()["data"]
        changed_r = (await client.patch(f"{P}/config/{owner.rule_id}", json={
            "timeout_ms": 5000, "custom_headers": {"X-Client-Token": "abc"}}))
        assert changed_r.status_code == 200, changed_r.text
        changed = changed_r.json()["data"]
        refused = await client.patch(f"{P}/config/{owner.rule_id}", json={"max_retries": 99})
        unknown = await client.patch(f"{P}/config/{owner.rule_id}", json={"colour": "blue"})
        not_object = await client.patch(f"{P}/config/{owner.rule_id}", content=b"[1, 2]")
        rotated = (await client.patch(f"{P}/config/{owner.rule_id}", json={"signing_secret": None})).json()["data"]
        after = (await client.get(f"{P}/config/{owner.rule_id}")).json()["data"]
    assert before["timeout_ms"] == 10000 and before["max_retries"] == 3 and before["signing_secret"] is None
    assert changed["timeout_ms"] == 5000 and changed["custom_headers"] == {"X-Client-Token": "abc"}
    assert changed["signing_secret"].endswith("…") and len(changed["signing_secret"]) == 11
    error = assert_error(refused, 400, "max_retries must be between 0 and 20")
    assert error["field"] == "max_retries"
    assert assert_error(unknown, 400, "unknown key")["field"] == "colour"
    assert assert_error(not_object, 400, "body")["parameter"] == "body"
    assert rotated["signing_secret"].startswith("whsec_") and len(rotated["signing_secret"]) > 40
    assert after["signing_secret"] == rotated["signing_secret"][:10] + "…"
    assert await db.fetchval("select timeout_ms from webhook_configs where routing_rule_id = $1",
                             owner.rule_id) == 5000


async def test_a_key_must_name_the_rule_of_its_logs(server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    key = await make_key(db, owner, ["webhooks:read"])
    async with server.client(key) as client:
        assert_error(await client.get(f"{P}/logs"), 400, "routing_rule_id")
    async with server.client(owner.jwt) as client:
        assert (await client.get(f"{P}/logs")).status_code == 200


async def test_unknown_routes_and_methods_answer_json_errors(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert_error(await client.get("/api/v1/nothing"), 404)
        assert_error(await client.delete(f"{P}/rules"), 405)
        health = await client.get("/healthz")
    assert health.status_code == 200 and health.text.strip() == "ok"
