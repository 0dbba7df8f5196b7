"""Receivers that hang, reset, flood or lie: each ends with the right error type, within the deadline."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.abc import ResolveResult

from sidecar.delivery import egress
from sidecar.delivery.attempt import Deliverer
from tests.http.conftest import Handler, RawServer, Receiver, make_job, read_request_head
from tests.receiver import reset

Start = Callable[[Handler], Awaitable[RawServer]]


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request_head(reader)
    await asyncio.Event().wait()


async def test_silent_server_times_out(deliverer: Deliverer, raw_server: Start) -> None:
    server = await raw_server(never_answer)
    outcome = await deliverer.attempt(make_job(server.url, timeout_ms=300))
    assert outcome.error_type == "timeout"
    assert outcome.error_message == "no complete response within 300 ms"
    # Event loops may fire a timer up to a clock tick early (uvloop counts whole ms).
    assert outcome.duration_ms >= 300 - 5
    assert outcome.status is None


async def test_slow_drip_body_times_out_keeping_what_arrived(deliverer: Deliverer, raw_server: Start) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        while True:
            writer.write(b"d")
            await writer.drain()
            await asyncio.sleep(0.02)

    outcome = await deliverer.attempt(make_job((await raw_server(drip)).url, timeout_ms=300))
    assert outcome.error_type == "timeout"
    assert outcome.status == 200 and not outcome.success
    assert set(outcome.response_body or "") == {"d"}


async def test_endless_headers_do_not_hang(deliverer: Deliverer, raw_server: Start) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(1_000_000):
            writer.write(b"X-Filler-%d: y\r\n" % n)
            await writer.drain()

    outcome = await deliverer.attempt(make_job((await raw_server(endless)).url, timeout_ms=2000))
    assert outcome.error_type == "invalid_response"


async def test_one_endless_header_line_is_invalid(deliverer: Deliverer, raw_server: Start) -> None:
    async def long_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n")
        await writer.drain()
        await asyncio.Event().wait()

    outcome = await deliverer.attempt(make_job((await raw_server(long_line)).url))
    assert outcome.error_type == "invalid_response"


async def test_refused_connection_is_network(deliverer: Deliverer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connecting is refused
        outcome = await deliverer.attempt(make_job(f"http://127.0.0.1:{port}/hook"))
    assert outcome.error_type == "network"
    assert "connection failed" in (outcome.error_message or "")


async def test_reset_mid_response_is_network(deliverer: Deliverer, raw_server: Start) -> None:
    async def reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.05)
        reset(writer)

    outcome = await deliverer.attempt(make_job((await raw_server(reset_mid_body)).url))
    assert outcome.error_type == "network"
    # What arrived before the reset is kept (the kernel may drop it if the RST wins the race).
    assert (outcome.status, outcome.response_body) in ((200, "partial"), (None, None))


async def test_reset_before_response_is_network(deliverer: Deliverer, raw_server: Start) -> None:
    async def reset_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        reset(writer)

    outcome = await deliverer.attempt(make_job((await raw_server(reset_at_once)).url))
    assert outcome.error_type == "network"


async def test_close_without_response_is_network(deliverer: Deliverer, raw_server: Start) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.close()

    outcome = await deliverer.attempt(make_job((await raw_server(hang_up)).url))
    assert (outcome.error_type, outcome.error_message) == ("network", "connection closed without a response")


async def test_garbage_bytes_are_invalid_response(deliverer: Deliverer, raw_server: Start) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"\x16\x03\x01 this is not http at all\r\n\r\n")
        await writer.drain()

    outcome = await deliverer.attempt(make_job((await raw_server(garbage)).url))
    assert outcome.error_type == "invalid_response"
    assert outcome.error_message and outcome.error_message.startswith("not a valid HTTP response")
    assert "\n" not in outcome.error_message


async def test_broken_chunked_framing_is_invalid_response(deliverer: Deliverer, raw_server: Start) -> None:
    async def bad_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nhello\r\n0\r\n\r\n")
        await writer.drain()
        await asyncio.Event().wait()

    outcome = await deliverer.attempt(make_job((await raw_server(bad_chunks)).url))
    assert outcome.error_type == "invalid_response"


async def test_a_hanging_target_does_not_stall_others_and_cancels_cleanly(
    deliverer: Deliverer, raw_server: Start, receiver: Receiver
) -> None:
    hanging = await raw_server(never_answer)
    slow = asyncio.ensure_future(deliverer.attempt(make_job(hanging.url, timeout_ms=60_000)))
    quick = await deliverer.attempt(make_job(receiver.base_url + "/ok"))
    assert quick.success and not slow.done()
    slow.cancel()  # shutdown cancels in-flight attempts: that must propagate, not become an outcome
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_dns_failure_is_network(deliverer: Deliverer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The lookup is faked: a real one would query a nameserver off this machine.
    async def no_such_host(host: str, port: int, family: int) -> list[ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(egress, "_getaddrinfo", no_such_host)
    outcome = await deliverer.attempt(make_job("http://no-such-host.invalid/hook"))
    assert outcome.error_type == "network"
    assert "DNS" in (outcome.error_message or "")


async def test_malformed_url_is_a_final_blocked_outcome_not_an_exception(deliverer: Deliverer) -> None:
    # A fault of the rule's own data: no retry can change it (README "Local faults").
    outcome = await deliverer.attempt(make_job("not a url"))
    assert outcome.error_type == "blocked"
    assert (outcome.error_message or "").startswith("request not sent: invalid URL")


async def test_header_with_line_break_is_not_sent(deliverer: Deliverer, receiver: Receiver) -> None:
    job = make_job(receiver.base_url + "/ok", custom_headers={"X-Bad": "a\r\nInjected: 1"})
    outcome = await deliverer.attempt(job)
    assert outcome.error_type == "blocked" and "X-Bad" in (outcome.error_message or "")
    assert receiver.requests == []


async def test_a_body_shorter_than_its_content_length_is_network_keeping_what_came(
    deliverer: Deliverer, raw_server: Start
) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
        await writer.drain()

    outcome = await deliverer.attempt(make_job((await raw_server(short)).url))
    assert outcome.error_type == "network"
    assert (outcome.error_message or "").startswith("connection lost while reading the response body")
    assert (outcome.status, outcome.response_body) == (200, "partial")


async def test_bytes_past_the_content_length_are_dropped_with_the_connection(
    deliverer: Deliverer, raw_server: Start
) -> None:
    async def too_long(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokAND MORE")
            await writer.drain()

    server = await raw_server(too_long)
    for _ in range(2):
        outcome = await deliverer.attempt(make_job(server.url))
        assert outcome.success and outcome.response_body == "ok"
    assert server.connections == 2  # the lying connection was not reused


async def test_interim_responses_and_chunked_bodies_are_read_through(deliverer: Deliverer, raw_server: Start) -> None:
    async def interim_then_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        writer.write(b"4;x=y\r\nqueu\r\n2\r\ned\r\n0\r\nX-Trailer: 1\r\n\r\n")
        await writer.drain()
        await asyncio.Event().wait()

    outcome = await deliverer.attempt(make_job((await raw_server(interim_then_chunks)).url))
    assert outcome.success and (outcome.status, outcome.response_body) == (202, "queued")
    assert outcome.response_headers == {"transfer-encoding": "chunked"}


async def test_url_credentials_beside_an_authorization_header_are_not_sent(
    deliverer: Deliverer, receiver: Receiver
) -> None:
    url = receiver.base_url.replace("://", "://user:pw@") + "/ok"
    outcome = await deliverer.attempt(make_job(url, custom_headers={"Authorization": "Bearer x"}))
    assert outcome.error_type == "blocked" and "Authorization" in (outcome.error_message or "")
    assert receiver.requests == []


async def test_url_credentials_are_sent_as_basic_auth(deliverer: Deliverer, receiver: Receiver) -> None:
    url = receiver.base_url.replace("://", "://us%C3%A9r:p%40ss@") + "/ok"
    outcome = await deliverer.attempt(make_job(url))
    assert outcome.success and outcome.request_headers["Authorization"] == "***"
    # Latin-1, as browsers and aiohttp send it: "usér:p@ss".
    assert receiver.requests[0].headers["Authorization"] == "Basic dXPpcjpwQHNz"
