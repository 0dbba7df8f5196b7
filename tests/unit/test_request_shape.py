"""The request an attempt sends and how failures are named, checked without a network."""

from __future__ import annotations

import base64
import uuid

import pytest
from standardwebhooks import Webhook

from sidecar.delivery import http1
from sidecar.delivery.attempt import (
    Deliverer,
    build_headers,
    classify,
    header_problem,
    logged_request_headers,
    one_line,
    status_message,
    url_authorization,
    url_problem,
)
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
    ("exc", "expected"),
    [
        (http1.NoResponse(), ("network", "connection closed without a response")),
        (http1.NoResponse("[Errno 104] Connection reset by peer"),
         ("network", "connection closed without a response: [Errno 104] Connection reset by peer")),
        (http1.ResponseCut("body", "closed by the peer"),
         ("network", "connection lost while reading the response body: closed by the peer")),
        (http1.ResponseCut("head", "closed by the peer"),
         ("network", "connection lost while reading the response head: closed by the peer")),
        (http1.DNSFailed("x.invalid: Name or service not known"),
         ("network", "DNS lookup failed: x.invalid: Name or service not known")),
        (http1.ConnectFailed("refused"), ("network", "connection failed: refused")),
        (http1.TLSFailed("certificate verify failed"), ("network", "TLS handshake failed: certificate verify failed")),
        (http1.InvalidResponse("bad status line b'x'"), ("invalid_response", "not a valid HTTP response: bad status line b'x'")),
        (http1.InvalidBody("bad chunk size line b'ZZZ'"),
         ("invalid_response", "malformed response body: bad chunk size line b'ZZZ'")),
        (ConnectionResetError(104, "reset"), ("network", "connection error: ConnectionResetError: [Errno 104] reset")),
    ],
)
def test_exceptions_map_to_error_types_and_messages(exc: BaseException, expected: tuple[str, str]) -> None:
    assert classify(exc) == expected


@pytest.mark.parametrize(("url", "credentials"), [
    ("https://a:b@hooks.example/", b"a:b"),
    ("https://:secret@hooks.example/", b":secret"),
    ("https://only-user@hooks.example/", b"only-user:"),
    ("https://p%40ss:w%3Ard@hooks.example/", b"p@ss:w:rd"),
])
def test_url_credentials_become_basic_auth(url: str, credentials: bytes) -> None:
    assert url_authorization(url) == "Basic " + base64.b64encode(credentials).decode()
    assert url_problem(url) is None


def test_a_url_without_credentials_sends_no_authorization() -> None:
    assert url_authorization("https://hooks.example/x?token=1") is None


@pytest.mark.parametrize(("url", "problem"), [
    ("https://a%3Ab:c@hooks.example/", "RFC 7617"),
    ("https://%E2%82%AC:x@hooks.example/", "latin-1"),
])
def test_credentials_that_basic_auth_cannot_carry_are_an_invalid_url(url: str, problem: str) -> None:
    found = url_problem(url) or ""
    assert found.startswith("invalid URL:") and problem in found


@pytest.mark.parametrize("url", ["https://hooks.example/x", "https://user:pw@hooks.example/x?token=1"])
@pytest.mark.parametrize("custom", [{}, {"X-Api-Key": "k", "X-Plain": "p", "Cookie": "c=1"}])
def test_the_attempt_logs_its_request_headers_as_logged_request_headers_masks_them(
        url: str, custom: dict[str, str]) -> None:
    # The attempt masks only the names it does not set itself; the result must be the general rule's.
    j = job(**custom)
    j.webhook_url = url
    prepared = Deliverer()._prepare(j)
    assert isinstance(prepared, tuple)
    _, headers, exchange = prepared
    assert exchange.request_headers == logged_request_headers(url, headers)
    assert exchange.request_headers["webhook-signature"] == "***"
    assert ("Authorization" in exchange.request_headers) == ("user:pw" in url)
