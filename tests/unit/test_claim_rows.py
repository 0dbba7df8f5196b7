"""Claim rows become Jobs the same way from both transports, dated by the database's clock."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from sidecar.domain import AttemptResult, Outcome
from sidecar.store import job_from_row, result_element

CLAIMED = datetime(2026, 11, 29, 12, 0, 3, 412345, tzinfo=timezone.utc)


def row(claimed_at: Any) -> dict[str, Any]:
    ids = {k: str(uuid.uuid4()) for k in ("queue_id", "webhook_id", "lead_id", "routing_rule_id")}
    return {
        **ids, "attempt_number": 1, "max_attempts": 4, "payload": "{}", "webhook_url": "https://h.example/",
        "custom_headers": {}, "timeout_ms": 10000, "retry_enabled": True, "retry_delay_ms": 1000,
        "retry_backoff_multiplier": "2.0", "signing_secret": "whsec_c2VjcmV0", "claimed_at": claimed_at,
    }


@pytest.mark.parametrize("claimed_at", [CLAIMED, "2026-11-29T12:00:03.412345+00:00"], ids=["asyncpg", "postgrest"])
def test_the_claim_time_is_read_from_either_transport(claimed_at: Any) -> None:
    assert job_from_row(row(claimed_at)).claimed_at == CLAIMED.timestamp()


def test_a_job_tells_the_time_by_the_database_clock_plus_what_elapsed_here() -> None:
    job = job_from_row(row(CLAIMED))
    assert CLAIMED.timestamp() <= job.now() < CLAIMED.timestamp() + 5
    assert abs(job.now() - time.time()) > 3600  # this host's wall clock plays no part


def test_without_a_claim_time_a_job_falls_back_to_this_hosts_clock() -> None:
    assert abs(job_from_row(row(None)).now() - time.time()) < 5


def test_a_nul_in_a_response_header_is_replaced_before_it_reaches_jsonb() -> None:
    # jsonb refuses U+0000; a receiver can send one in a header name or value.
    outcome = Outcome(request_headers={"X-A": "1"}, duration_ms=1, ended_at=time.monotonic(), status=200,
                      response_headers={"x-b": "a\x00b", "x-\x00c": "d"})
    element = result_element(AttemptResult(job_from_row(row(None)), "w-1", outcome, None))
    assert element["response_headers"] == {"x-b": "a\ufffdb", "x-\ufffdc": "d"}
    assert element["request_headers"] == {"X-A": "1"}


def _result(log_id: str | None = None, **outcome: Any) -> AttemptResult:
    fields: dict[str, Any] = {"request_headers": {"X-A": "1"}, "duration_ms": 1, "ended_at": time.monotonic(),
                              "status": 200, "response_headers": {"x-b": "b"}, "response_body": "ok", **outcome}
    return AttemptResult(job_from_row(row(None)), "w-1", Outcome(**fields), None, log_id, first_send=True,
                         status="success")


@pytest.mark.parametrize("log_id", [None, str(uuid.uuid4())])
def test_the_record_argument_is_the_result_elements_encoded(log_id: str | None) -> None:
    from sidecar.store.direct import _jsonb_encode, _record_argument

    results = [_result(log_id), _result(log_id, status=500, error_type="http_error", error_message="HTTP 500")]
    argument = _record_argument(results)
    assert isinstance(argument, bytes)
    assert _jsonb_encode(argument) == _jsonb_encode([result_element(r) for r in results])


@pytest.mark.parametrize("where", ["response_body", "response_headers", "request_headers", "error_message"])
def test_a_nul_anywhere_sends_the_cleaned_elements(where: str) -> None:
    from sidecar.store.direct import _jsonb_encode, _record_argument

    nul: dict[str, Any] = {"response_body": "a\x00b", "response_headers": {"x-\x00": "v"},
                           "request_headers": {"X-A": "\x00"}, "error_message": "bad \x00"}
    extra = {"status": 500, "error_type": "http_error"} if where == "error_message" else {}
    results = [_result(), _result(**{where: nul[where]}, **extra)]
    argument = _record_argument(results)
    assert argument == [result_element(r) for r in results]
    assert b"\\u0000" not in _jsonb_encode(argument)
