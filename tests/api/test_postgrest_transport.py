"""The Supabase transport of `serve`: the exact requests sent to PostgREST and how answers are mapped.

PostgREST cannot run here, so pytest-httpx stands in for it; the app itself is real
(aiohttp on 127.0.0.1 through its test server), only the upstream is scripted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_httpx import HTTPXMock

from sidecar.api.auth import Authenticator
from sidecar.api.postgrest import PostgrestApiStore
from sidecar.api.server import build_app

SUPABASE = "https://project.supabase.co"
ANON = "anon-key-123"
RULE = str(uuid.uuid4())
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"
KEY = "bpc_" + "a" * 48


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    store = PostgrestApiStore(SUPABASE, ANON)
    app = build_app(store, Authenticator(None, None, verify=False), {"supabase_url": SUPABASE,
                                                                     "supabase_anon_key": ANON})
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_a_jwt_is_forwarded_as_authorization_with_the_anon_apikey(client: TestClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{SUPABASE}/rest/v1/rpc/api_webhook_stats", method="POST",
                            json=[{"total_calls": 3, "success_calls": 2, "failed_calls": 1,
                                   "avg_duration_ms": 12.5, "success_rate": 66.67}])
    answer = await client.get("/api/v1/webhooks/stats", params={"routing_rule_id": RULE, "days": "30"},
                              headers={"Authorization": f"Bearer {JWT}"})
    assert answer.status == 200
    assert (await answer.json())["data"]["success_rate"] == 66.67
    [request] = httpx_mock.get_requests()
    assert request.headers["apikey"] == ANON and request.headers["Authorization"] == f"Bearer {JWT}"
    assert "x-api-key" not in request.headers
    assert json.loads(request.content) == {"routing_rule_id": RULE, "days": 30}


async def test_a_key_goes_in_x_api_key_with_the_anon_key_as_bearer(client: TestClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{SUPABASE}/rest/v1/rpc/api_webhook_log_page", method="POST", json=[])
    answer = await client.get("/api/v1/webhooks/logs", params={"routing_rule_id": RULE, "status": "failed",
                                                               "since": "2026-12-01T00:00:00Z", "limit": "10"},
                              headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status == 200 and await answer.json() == {"data": [], "next_cursor": None}
    [request] = httpx_mock.get_requests()
    assert request.headers["x-api-key"] == KEY and request.headers["Authorization"] == f"Bearer {ANON}"
    assert json.loads(request.content) == {
        "routing_rule_id": RULE, "status": "failed", "since": "2026-12-01T00:00:00+00:00", "until": None,
        "max_rows": 11, "before_created_at": None, "before_id": None}


async def test_a_pgrst_429_keeps_its_status_message_and_retry_after(client: TestClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "17"}, json={
        "code": "rate_limited", "message": "rate limit exceeded: at most 60 calls per minute for this key",
        "details": None, "hint": "Wait for the number of seconds in Retry-After."})
    answer = await client.post(f"/api/v1/webhooks/replay/{uuid.uuid4()}", headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status == 429 and answer.headers["Retry-After"] == "17"
    assert await answer.json() == {"error": {"status": 429, "message":
                                             "rate limit exceeded: at most 60 calls per minute for this key"}}


async def test_a_config_refusal_names_its_field(client: TestClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=400, json={
        "code": "23514", "message": "invalid webhook config: timeout_ms must be between 100 and 300000 (milliseconds), got 5",
        "details": None, "hint": None})
    answer = await client.patch(f"/api/v1/webhooks/config/{RULE}", json={"timeout_ms": 5},
                                headers={"Authorization": f"Bearer {JWT}"})
    body = await answer.json()
    assert answer.status == 400 and body["error"]["field"] == "timeout_ms"
    [request] = httpx_mock.get_requests()
    assert request.url == f"{SUPABASE}/rest/v1/rpc/api_update_webhook_config"
    assert json.loads(request.content) == {"routing_rule_id": RULE, "patch": {"timeout_ms": 5}}


@pytest.mark.parametrize(("status", "body", "expected"), [
    (401, {"code": "PGRST301", "message": "JWT expired"}, 401),
    (404, {"code": "not_found", "message": "routing rule x not found"}, 404),
    (403, {"code": "api_key_scope_missing", "message": "API key lacks the webhooks:write scope"}, 403),
    (404, {"code": "PGRST202", "message": "Could not find the function public.api_webhook_events"}, 501),
    (500, {"code": "XX000", "message": "internal"}, 502),
])
async def test_postgrest_errors_map_to_api_errors(client: TestClient, httpx_mock: HTTPXMock,
                                                  status: int, body: dict, expected: int) -> None:
    httpx_mock.add_response(status_code=status, json=body)
    answer = await client.get(f"/api/v1/webhooks/config/{RULE}", headers={"Authorization": f"Bearer {JWT}"})
    error = (await answer.json())["error"]
    assert answer.status == expected and error["status"] == expected
    if expected == 401:
        assert answer.headers["WWW-Authenticate"] == "Bearer" and "JWT expired" in error["message"]


async def test_an_unreachable_supabase_is_503(client: TestClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    answer = await client.get("/api/v1/webhooks/rules", headers={"Authorization": f"Bearer {JWT}"})
    assert answer.status == 503 and "unreachable" in (await answer.json())["error"]["message"]


async def test_the_dashboard_config_exposes_only_public_settings(client: TestClient) -> None:
    answer = await client.get("/api/v1/dashboard-config")
    assert await answer.json() == {"supabase_url": SUPABASE, "supabase_anon_key": ANON}
