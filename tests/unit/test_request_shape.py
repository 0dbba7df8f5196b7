"""The request an attempt sends and how failures are named, checked without a network."""

from __future__ import annotations

import base64
import uuid

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from standardwebhooks import Webhook
from yarl import URL

from sidecar.delivery.attempt import build_headers, classify, header_problem, one_line, status_message
from sidecar.domain import Job

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


def job(**custom: str) -> Job:
    return Job(
        queue_id=uuid.uuid4(), webhook_id=uuid.uuid4(), lead_id=uuid.uuid4(), routing_rule_id=uuid.uuid4(),
        attempt_number=1, max_attempts=4, payload="{}", webhook_url="https://hooks.example/x",
        custom_headers=dict(custom), timeout_ms=10_000, retry_enabled=True, retry_delay_ms=1000,
        retry_backoff_multiplier=2.0, signing_secret=SECRET,
    )


def test_headers_come_in_the_documented_order() -> None:
    headers = build_headers(job(**{"X-Custom": "1"}), b"{}", 1_700_000_000)
    assert list(headers) == [
        "Content-Type", "User-Agent", "X-Lead-ID", "X-Funnel-Webhook", "X-Custom",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    ]


def test_signature_covers_the_exact_body_and_timestamp() -> None:
    import time

    j, now = job(), int(time.time())
    headers = build_headers(j, b'{"a":1}', now)
    assert headers["webhook-timestamp"] == str(now)
    Webhook(SECRET).verify(b'{"a":1}', headers)


def test_ids_are_the_jobs() -> None:
    j = job()
    headers = build_headers(j, b"{}", 1)
    assert headers["webhook-id"] == str(j.webhook_id) and headers["X-Lead-ID"] == str(j.lead_id)


@pytest.mark.parametrize(
    "name", ["Host", "content-length", "Content-Type", "Transfer-Encoding", "Connection",
             "User-Agent", "x-lead-id", "X-Funnel-Webhook", "webhook-id", "Webhook-Signature"],
)
def test_reserved_custom_headers_are_dropped(name: str) -> None:
    headers = build_headers(job(**{name: "forged"}), b"{}", 1)
    assert "forged" not in headers.values()


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-Ok": "fine"}, None),
        ({"Bad Name": "v"}, "not a valid HTTP token"),
        ({"X-A": "line\nbreak"}, "line break"),
        ({"X-A": "nul\0"}, "line break or NUL"),
    ],
)
def test_header_problems_are_named(headers: dict[str, str], problem: str | None) -> None:
    found = header_problem(headers)
    assert found == problem if problem is None else problem in (found or "")


def test_status_messages_use_the_reason_or_the_standard_phrase() -> None:
    assert status_message(500, "Internal Server Error") == "HTTP 500: Internal Server Error"
    assert status_message(418, "") == "HTTP 418: I'm a Teapot"
    assert status_message(599, None) == "HTTP 599"
    assert status_message(500, "Custom") == "HTTP 500: Custom"


def test_messages_are_one_bounded_line() -> None:
    assert one_line("a\r\n  b\tc") == "a b c"
    assert len(one_line("x" * 10_000)) == 500


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (aiohttp.ServerDisconnectedError(), "network"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "network"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "network"),
        (aiohttp.ClientPayloadError("Invalid chunk"), "invalid_response"),
        (aiohttp.InvalidURL("::"), "network"),
        (ConnectionResetError(104, "reset"), "network"),
    ],
)
def test_exceptions_map_to_error_types(exc: BaseException, error_type: str) -> None:
    assert classify(exc)[0] == error_type


def test_response_parse_errors_are_invalid_response() -> None:
    info = aiohttp.RequestInfo(URL("http://x/"), "POST", CIMultiDictProxy(CIMultiDict()), URL("http://x/"))
    exc = aiohttp.ClientResponseError(info, (), status=400, message="Bad status line")
    assert classify(exc) == ("invalid_response", "not a valid HTTP response: Bad status line")
