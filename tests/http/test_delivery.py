"""One attempt against a well-behaved receiver on 127.0.0.1: request shape and classification."""

from __future__ import annotations

import asyncio
import json

import pytest
from standardwebhooks import Webhook

from sidecar.delivery.attempt import Deliverer
from sidecar.delivery.payload import compact_jsonb_text
from tests.http.conftest import PAYLOAD_TEXT, SECRET, Receiver, make_job


async def test_200_is_success_with_every_header(deliverer: Deliverer, receiver: Receiver) -> None:
    job = make_job(receiver.base_url + "/ok", custom_headers={"X-Client": "acme"})
    outcome = await deliverer.attempt(job)
    assert outcome.success and outcome.status == 200 and outcome.error_type is None
    [seen] = receiver.requests
    assert seen.method == "POST"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"] == "BPC-Funnels/2.0"
    assert seen.headers["X-Lead-ID"] == str(job.lead_id)
    assert seen.headers["X-Funnel-Webhook"] == "true"
    assert seen.headers["X-Client"] == "acme"
    assert seen.headers["webhook-id"] == str(job.webhook_id)
    assert seen.headers["webhook-timestamp"].isdigit()


async def test_signature_verifies_with_standardwebhooks(deliverer: Deliverer, receiver: Receiver) -> None:
    await deliverer.attempt(make_job(receiver.base_url + "/ok"))
    [seen] = receiver.requests
    payload = Webhook(SECRET).verify(seen.body, seen.headers)
    assert payload == json.loads(PAYLOAD_TEXT)


async def test_body_is_the_compacted_payload(deliverer: Deliverer, receiver: Receiver) -> None:
    await deliverer.attempt(make_job(receiver.base_url + "/ok"))
    assert receiver.requests[0].body == compact_jsonb_text(PAYLOAD_TEXT)


async def test_retries_send_the_same_body_and_webhook_id(deliverer: Deliverer, receiver: Receiver) -> None:
    job = make_job(receiver.base_url + "/ok")
    await deliverer.attempt(job)
    await deliverer.attempt(job)
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


async def test_no_compression_is_requested(deliverer: Deliverer, receiver: Receiver) -> None:
    await deliverer.attempt(make_job(receiver.base_url + "/ok"))
    assert "Accept-Encoding" not in receiver.requests[0].headers


async def test_logged_request_headers_mask_secrets(deliverer: Deliverer, receiver: Receiver) -> None:
    custom = {"Authorization": "Bearer s3cret", "X-Api-Key": "k", "X-Plain": "visible"}
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/ok", custom_headers=custom))
    logged = outcome.request_headers
    assert logged["Authorization"] == "***" and logged["X-Api-Key"] == "***"
    assert logged["webhook-signature"] == "***"
    assert logged["X-Plain"] == "visible" and logged["User-Agent"] == "BPC-Funnels/2.0"
    assert receiver.requests[0].headers["Authorization"] == "Bearer s3cret"


async def test_response_is_recorded_with_set_cookie_masked(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/ok"))
    assert json.loads(outcome.response_body or "") == {"ok": True}
    assert outcome.response_headers["set-cookie"] == "***"
    assert outcome.response_headers["x-trace"] == "t1"


async def test_custom_headers_cannot_replace_reserved_ones(deliverer: Deliverer, receiver: Receiver) -> None:
    custom = {"user-agent": "evil", "webhook-id": "forged", "Content-Type": "text/plain"}
    job = make_job(receiver.base_url + "/ok", custom_headers=custom)
    await deliverer.attempt(job)
    seen = receiver.requests[0].headers
    assert seen["User-Agent"] == "BPC-Funnels/2.0"
    assert seen["webhook-id"] == str(job.webhook_id)
    assert seen["Content-Type"] == "application/json"


async def test_500_is_http_error_with_status_line(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/status/500"))
    assert (outcome.error_type, outcome.error_message) == ("http_error", "HTTP 500: Internal Server Error")
    assert outcome.status == 500 and outcome.response_body == "nope"
    assert not outcome.success


async def test_404_is_http_error(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/status/404"))
    assert (outcome.error_type, outcome.error_message) == ("http_error", "HTTP 404: Not Found")


async def test_any_2xx_is_success(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/status/204"))
    assert outcome.success and outcome.status == 204


async def test_redirect_is_not_followed(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/redirect"))
    assert (outcome.error_type, outcome.error_message) == ("http_error", "HTTP 302: Found")
    assert [r.path for r in receiver.requests] == ["/redirect"]


async def test_429_retry_after_seconds_is_parsed(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/retry-after?value=7"))
    assert outcome.error_type == "http_error" and outcome.status == 429
    assert outcome.retry_after_s == 7.0


async def test_503_retry_after_http_date_is_parsed(deliverer: Deliverer, receiver: Receiver) -> None:
    from urllib.parse import quote

    url = receiver.base_url + "/retry-after?code=503&value=" + quote("Wed, 21 Oct 2015 07:28:00 GMT")
    outcome = await deliverer.attempt(make_job(url))
    assert outcome.status == 503 and outcome.retry_after_s == 0.0


async def test_retry_after_is_ignored_on_other_statuses(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/retry-after?code=500&value=7"))
    assert outcome.status == 500 and outcome.retry_after_s is None


async def test_invalid_utf8_body_is_stored_with_replacement(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/invalid-utf8"))
    assert outcome.success
    assert outcome.response_body == "ok \ufffd\ufffd end"


async def test_10mb_body_is_cut_at_max_response_bytes(receiver: Receiver) -> None:
    async with Deliverer(allow_private_targets=True, max_response_bytes=65536) as d:
        outcome = await d.attempt(make_job(receiver.base_url + "/big"))
    assert outcome.success
    header_bytes = sum(len(k) + len(v) + 4 for k, v in outcome.response_headers.items())
    assert outcome.response_body == "x" * (65536 - header_bytes)  # headers and body share the budget
    await asyncio.wait_for(receiver.big_handler_done.wait(), 10)
    assert receiver.big_body_fully_sent is False  # we hung up instead of draining 10 MB


async def test_small_cap_stores_exactly_the_cap(receiver: Receiver) -> None:
    async with Deliverer(allow_private_targets=True, max_response_bytes=100) as d:
        outcome = await d.attempt(make_job(receiver.base_url + "/big"))
    header_bytes = sum(len(k) + len(v) + 4 for k, v in outcome.response_headers.items())
    assert header_bytes <= 100
    assert outcome.response_body == "x" * (100 - header_bytes)


async def test_connection_is_reused_after_a_complete_body(deliverer: Deliverer, receiver: Receiver) -> None:
    for _ in range(3):
        assert (await deliverer.attempt(make_job(receiver.base_url + "/ok"))).success
    assert len(receiver.requests) == 3


async def test_unused_deliverer_refuses_to_run(receiver: Receiver) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await Deliverer(allow_private_targets=True).attempt(make_job(receiver.base_url + "/ok"))



async def test_response_headers_count_against_max_response_bytes(raw_server) -> None:
    from tests.http.conftest import read_request_head

    async def many_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 8000) for i in range(100))  # ~800 KB
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n" + filler + b"\r\nbody")
        await writer.drain()

    server = await raw_server(many_headers)
    async with Deliverer(allow_private_targets=True, max_response_bytes=65536) as d:
        outcome = await d.attempt(make_job(server.url))
    assert outcome.success
    stored = sum(len(k) + len(v) + 4 for k, v in outcome.response_headers.items()) + len(outcome.response_body or "")
    assert stored <= 65536
