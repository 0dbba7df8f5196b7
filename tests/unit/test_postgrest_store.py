"""The Supabase transport sends exactly PostgREST's RPC requests and maps its answers and errors.

PostgREST itself does not run here: pytest-httpx stands in for it, so these tests
prove the requests' shape and the handling of PostgREST-shaped answers, not a live
server's behaviour.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from sidecar.domain import AttemptResult, Job, Outcome
from sidecar.store import MissingFunctionError, RejectedError, TransientStoreError
from sidecar.store.postgrest import PostgrestStore

URL = "https://project.supabase.test"
KEY = "service-role-key"
QID, LID, RID, WID = (uuid.uuid4() for _ in range(4))

SINCE = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)
UNTIL = datetime(2026, 12, 2, 9, 30, tzinfo=timezone.utc)
CLAIM_ROW = {
    "queue_id": str(QID), "webhook_id": str(WID), "lead_id": str(LID), "routing_rule_id": str(RID),
    "attempt_number": 2, "max_attempts": 4, "payload": '{"a": 1}', "webhook_url": "https://example.com/h",
    "custom_headers": {"X-Client": "acme"}, "timeout_ms": 5000, "retry_enabled": True,
    "retry_delay_ms": 1000, "retry_backoff_multiplier": 2.5, "signing_secret": "whsec_abc",
}


@pytest.fixture
async def store() -> AsyncIterator[PostgrestStore]:
    s = await PostgrestStore.connect(URL, KEY)
    try:
        yield s
    finally:
        await s.close()


def job() -> Job:
    return Job(QID, WID, LID, RID, 1, 4, '{"a": 1}', "https://example.com/h", {}, 5000, True, 1000, 2.0, "whsec_abc")


def failed_result() -> AttemptResult:
    outcome = Outcome(request_headers={"Authorization": "***"}, duration_ms=12, ended_at=time.monotonic(),
                      status=500, response_headers={"content-type": "text/plain"},
                      response_body="bad\x00byte", error_type="http_error",
                      error_message="HTTP 500: Internal Server Error")
    return AttemptResult(job(), "w-1", outcome, 900, status="retrying")


Call = Callable[[PostgrestStore], Awaitable[Any]]
CASES: list[tuple[str, Call, dict[str, Any], Any, Any]] = [
    ("claim_webhook_jobs", lambda s: s.claim("w-1", 10, 60),
     {"worker_id": "w-1", "max_jobs": 10, "lease_seconds": 60}, [CLAIM_ROW], None),
    ("release_webhook_jobs", lambda s: s.release([QID]), {"ids": [str(QID)]}, 1, 1),
    ("defer_webhook_jobs", lambda s: s.defer("w-1", [QID], 1000),
     {"worker_id": "w-1", "ids": [str(QID)], "delay_ms": 1000}, 1, 1),
    ("extend_webhook_leases", lambda s: s.extend_leases("w-1", [QID], 310),
     {"worker_id": "w-1", "ids": [str(QID)], "lease_seconds": 310}, [{"queue_id": str(QID)}], [QID]),
    ("requeue_stale_webhook_jobs", lambda s: s.requeue_stale(), {}, 3, 3),
    ("enqueue_webhook", lambda s: s.enqueue(LID, RID, 5),
     {"lead_id": str(LID), "routing_rule_id": str(RID), "priority": 5}, str(QID), QID),
    ("replay_webhook", lambda s: s.replay(LID), {"log_id": str(LID)}, str(QID), QID),
    ("get_webhook_stats", lambda s: s.stats(RID, 30), {"routing_rule_id": str(RID), "days": 30},
     [{"total_calls": 4, "success_rate": 75.0}], {"total_calls": 4, "success_rate": 75.0}),
    ("webhook_log_search", lambda s: s.logs(RID, "failed", None, 5),
     {"routing_rule_id": str(RID), "status": "failed", "queue_id": None, "max_rows": 5},
     [{"id": str(LID)}], [{"id": str(LID)}]),
    ("webhook_queue_summary", lambda s: s.queue_summary(), {}, [{"status": "pending", "deliveries": 2}],
     [{"status": "pending", "deliveries": 2}]),
    ("webhook_delivery", lambda s: s.delivery(QID), {"queue_id": str(QID)}, [], None),
    ("webhook_effective_config", lambda s: s.get_config(RID), {"routing_rule_id": str(RID)},
     [{"timeout_ms": 10000}], {"timeout_ms": 10000}),
    ("claim_webhook_jobs", lambda s: s.claim("w-1", 1, 60, [QID]),
     {"worker_id": "w-1", "max_jobs": 1, "lease_seconds": 60, "queue_ids": [str(QID)]}, [CLAIM_ROW], None),
    ("recover_webhook_deliveries", lambda s: s.recover(RID, SINCE, UNTIL),
     {"routing_rule_id": str(RID), "since": SINCE.isoformat(), "until": UNTIL.isoformat()}, 3, 3),
    ("cancel_webhook_deliveries", lambda s: s.cancel(RID), {"routing_rule_id": str(RID)}, 2, 2),
    ("send_test_webhook", lambda s: s.send_test(RID), {"routing_rule_id": str(RID)}, str(QID), QID),
    ("webhook_held_summary", lambda s: s.held_summary(), {}, [{"routing_rule_id": str(RID), "held": 4}],
     [{"routing_rule_id": str(RID), "held": 4}]),
    ("update_webhook_config", lambda s: s.update_config(RID, {"timeout_ms": 2000}),
     {"routing_rule_id": str(RID), "patch": {"timeout_ms": 2000}}, {"timeout_ms": 2000}, {"timeout_ms": 2000}),
]


@pytest.mark.parametrize(("name", "call", "body", "answer", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_each_call_is_one_postgrest_rpc_post_with_the_service_key_and_named_arguments(
    httpx_mock: HTTPXMock, store: PostgrestStore, name: str, call: Call, body: dict[str, Any],
    answer: Any, expected: Any,
) -> None:
    httpx_mock.add_response(method="POST", url=f"{URL}/rest/v1/rpc/{name}", json=answer)

    result = await call(store)

    request = httpx_mock.get_requests()[0]
    assert request.method == "POST"
    assert request.url.path == f"/rest/v1/rpc/{name}"
    assert request.headers["apikey"] == KEY
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == body
    if expected is not None:
        assert result == expected


async def test_claim_rows_become_jobs(httpx_mock: HTTPXMock, store: PostgrestStore) -> None:
    httpx_mock.add_response(json=[CLAIM_ROW])

    [claimed] = await store.claim("w-1", 1, 60)

    assert (claimed.queue_id, claimed.webhook_id, claimed.lead_id) == (QID, WID, LID)
    assert (claimed.attempt_number, claimed.max_attempts, claimed.timeout_ms) == (2, 4, 5000)
    assert claimed.retry_backoff_multiplier == 2.5
    assert claimed.custom_headers == {"X-Client": "acme"}
    assert claimed.previous_signing_secret is None


async def test_a_claim_row_carries_the_previous_secret_during_its_overlap(
    httpx_mock: HTTPXMock, store: PostgrestStore
) -> None:
    httpx_mock.add_response(json=[{**CLAIM_ROW, "previous_signing_secret": "whsec_old"}])

    [claimed] = await store.claim("w-1", 1, 60)

    assert (claimed.signing_secret, claimed.previous_signing_secret) == ("whsec_abc", "whsec_old")


async def test_record_sends_the_documented_result_elements(httpx_mock: HTTPXMock, store: PostgrestStore) -> None:
    log_id = uuid.uuid4()
    httpx_mock.add_response(json=[{"queue_id": str(QID), "log_id": str(log_id), "applied": False, "status": "failed"}])

    [recorded] = await store.record([failed_result()])

    [element] = json.loads(httpx_mock.get_requests()[0].content)["results"]
    assert element == {
        "queue_id": str(QID), "worker_id": "w-1", "attempt_number": 1, "webhook_url": "https://example.com/h",
        "request_headers": {"Authorization": "***"}, "response_status": 500,
        "response_headers": {"content-type": "text/plain"}, "response_body": "bad\ufffdbyte",
        "duration_ms": 12, "success": False, "error_type": "http_error",
        "error_message": "HTTP 500: Internal Server Error", "retry_in_ms": 900, "status": "retrying",
    }
    # A late result: decided retrying, written failed; the database's word is what comes back.
    assert (recorded.queue_id, recorded.log_id, recorded.applied, recorded.status) == (QID, log_id, False, "failed")


async def test_nothing_to_record_or_release_sends_nothing(httpx_mock: HTTPXMock, store: PostgrestStore) -> None:
    assert await store.record([]) == []
    assert await store.release([]) == 0
    assert await store.defer("w-1", [], 1000) == 0
    assert await store.extend_leases("w-1", [], 60) == []
    assert httpx_mock.get_requests() == []


async def test_listening_sends_nothing_and_never_wakes(httpx_mock: HTTPXMock, store: PostgrestStore) -> None:
    woken: list[bool] = []
    await store.listen(lambda: woken.append(True))

    assert woken == []

    assert httpx_mock.get_requests() == []


def pgrst(code: str, message: str, status: int) -> dict[str, Any]:
    return {"status_code": status, "json": {"code": code, "message": message, "details": None, "hint": None}}


@pytest.mark.parametrize("answer", [
    pgrst("PGRST000", "Could not connect with the database", 503),
    pgrst("PGRST001", "Database client error", 503),
    pgrst("PGRST003", "Timed out acquiring connection from connection pool.", 504),
    pgrst("57P01", "terminating connection due to administrator command", 503),
    {"status_code": 502, "text": "<html>Bad Gateway</html>"},
    {"status_code": 500, "json": {"message": "internal"}},
], ids=["PGRST000", "PGRST001", "PGRST003", "admin-shutdown", "proxy-502", "500"])
async def test_server_side_failures_are_transient(
    httpx_mock: HTTPXMock, store: PostgrestStore, answer: dict[str, Any]
) -> None:
    httpx_mock.add_response(**answer)

    with pytest.raises(TransientStoreError):
        await store.claim("w-1", 1, 60)


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                   httpx.RemoteProtocolError("closed")], ids=["connect", "timeout", "closed"])
async def test_connection_failures_are_transient(
    httpx_mock: HTTPXMock, store: PostgrestStore, error: Exception
) -> None:
    httpx_mock.add_exception(error)

    with pytest.raises(TransientStoreError):
        await store.record([failed_result()])


async def test_a_missing_function_says_to_apply_the_migrations(httpx_mock: HTTPXMock, store: PostgrestStore) -> None:
    httpx_mock.add_response(**pgrst("PGRST202", "Could not find the function public.claim_webhook_jobs", 404))

    with pytest.raises(MissingFunctionError, match="supabase db push"):
        await store.claim("w-1", 1, 60)


@pytest.mark.parametrize("answer", [
    pgrst("P0002", "webhook log 00000000-0000-0000-0000-000000000000 not found", 404),
    pgrst("23514", "invalid webhook config: timeout_ms must be between 100 and 300000", 400),
    pgrst("42501", "permission denied for function claim_webhook_jobs", 403),
    pgrst("PGRST301", "JWSError JWSInvalidSignature", 401),
], ids=["not-found", "check-violation", "permission", "bad-key"])
async def test_refusals_are_not_retried_and_keep_the_databases_message(
    httpx_mock: HTTPXMock, store: PostgrestStore, answer: dict[str, Any]
) -> None:
    httpx_mock.add_response(**answer)

    with pytest.raises(RejectedError) as caught:
        await store.replay(LID)

    assert not isinstance(caught.value, TransientStoreError)
    assert answer["json"]["message"] in str(caught.value)
