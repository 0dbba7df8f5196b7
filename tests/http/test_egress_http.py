"""The egress guard end to end: refused targets get nothing, allowed ones get the checked address."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.abc import ResolveResult

from sidecar.delivery import egress
from sidecar.delivery.attempt import Deliverer
from tests.http.conftest import Handler, RawServer, Receiver, make_job, read_request_head


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer lookups from `answers` (no real DNS traffic); returns the names looked up."""
    asked: list[str] = []

    async def lookup(host: str, port: int, family: int) -> list[ResolveResult]:
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [egress._to_result(host, port, (socket.AF_INET, 1, 6, "", (a, port))) for a in answers[host]]

    monkeypatch.setattr(egress, "_getaddrinfo", lookup)
    return asked


def port_of(receiver: Receiver) -> str:
    return receiver.base_url.rsplit(":", 1)[1]


async def test_loopback_literal_is_blocked_and_nothing_is_sent(
    guarded_deliverer: Deliverer, receiver: Receiver
) -> None:
    outcome = await guarded_deliverer.attempt(make_job(receiver.base_url + "/ok"))
    assert outcome.error_type == "blocked"
    assert "127.0.0.1" in (outcome.error_message or "")
    assert outcome.status is None and receiver.requests == []


async def test_ipv4_mapped_loopback_is_blocked(guarded_deliverer: Deliverer, receiver: Receiver) -> None:
    url = f"http://[::ffff:127.0.0.1]:{port_of(receiver)}/ok"
    outcome = await guarded_deliverer.attempt(make_job(url))
    assert outcome.error_type == "blocked"
    assert "(IPv4 127.0.0.1)" in (outcome.error_message or "")
    assert receiver.requests == []


async def test_ipv6_loopback_literal_is_blocked(guarded_deliverer: Deliverer) -> None:
    outcome = await guarded_deliverer.attempt(make_job("http://[::1]:9/ok"))
    assert outcome.error_type == "blocked"


async def test_name_resolving_to_loopback_is_blocked(
    guarded_deliverer: Deliverer, receiver: Receiver
) -> None:
    outcome = await guarded_deliverer.attempt(make_job(f"http://localhost:{port_of(receiver)}/ok"))
    assert outcome.error_type == "blocked"
    assert "localhost resolves to" in (outcome.error_message or "")
    assert receiver.requests == []


async def test_name_with_one_private_address_among_public_is_blocked(
    guarded_deliverer: Deliverer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"mixed.test": ["8.8.8.8", "127.0.0.1"]})
    outcome = await guarded_deliverer.attempt(make_job(f"http://mixed.test:{port_of(receiver)}/ok"))
    assert outcome.error_type == "blocked" and receiver.requests == []


async def test_the_checked_address_is_the_one_dialled(
    deliverer: Deliverer, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hooks.test exists only in the fake answer, so reaching the receiver proves aiohttp
    # dialled what the checking resolver returned, after one lookup.
    asked = fake_dns(monkeypatch, {"hooks.test": ["127.0.0.1"]})
    outcome = await deliverer.attempt(make_job(f"http://hooks.test:{port_of(receiver)}/ok"))
    assert outcome.success
    assert asked == ["hooks.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.test:{port_of(receiver)}"


async def test_allow_private_reaches_loopback(deliverer: Deliverer, receiver: Receiver) -> None:
    outcome = await deliverer.attempt(make_job(f"http://localhost:{port_of(receiver)}/ok"))
    assert outcome.success and len(receiver.requests) == 1


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()


# Each names 127.0.0.1 (or another refused address) in a spelling some parser accepts.
REFUSED_FORMS = [
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"), ("10.1", "10.0.0.1"), ("[::127.0.0.1]", "127.0.0.1"),
    ("[::ffff:127.0.0.1]", "127.0.0.1"), ("[::ffff:0:127.0.0.1]", "127.0.0.1"),
    ("[64:ff9b::7f00:1]", "127.0.0.1"), ("[64:ff9b:1::a9fe:a9fe]", "64:ff9b:1::a9fe:a9fe"),
    ("[2002:7f00:1::1]", "127.0.0.1"), ("[2001:0:808:808::80ff:fffe]", "127.0.0.1"),
    ("[::1]", "::1"), ("[fe80::1%25lo]", "fe80::1"), ("[3fff::1]", "3fff::1"), ("[5f00::1]", "5f00::1"),
]


@pytest.mark.parametrize(("host", "address"), REFUSED_FORMS)
async def test_every_spelling_of_a_refused_address_is_blocked_and_never_dialled(
    guarded_deliverer: Deliverer, raw_server: Callable[[Handler], Awaitable[RawServer]], host: str, address: str
) -> None:
    server = await raw_server(answer_ok)
    outcome = await guarded_deliverer.attempt(make_job(f"http://{host}:{port_of_url(server.url)}/hook"))
    assert outcome.error_type == "blocked", outcome.error_message
    assert address in (outcome.error_message or "") and "not globally reachable" in (outcome.error_message or "")
    assert outcome.status is None
    assert server.connections == 0


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "127.0.0.09", "foo.1"])
async def test_a_host_that_is_no_valid_address_is_a_final_error(
    deliverer: Deliverer, raw_server: Callable[[Handler], Awaitable[RawServer]], host: str
) -> None:
    server = await raw_server(answer_ok)
    outcome = await deliverer.attempt(make_job(f"http://{host}:{port_of_url(server.url)}/hook"))
    assert outcome.error_type == "blocked"
    assert "is not a valid IP address" in (outcome.error_message or "")
    assert server.connections == 0


async def test_a_non_standard_spelling_is_blocked_even_when_private_targets_are_allowed(
    deliverer: Deliverer, raw_server: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw_server(answer_ok)
    outcome = await deliverer.attempt(make_job(f"http://127.1:{port_of_url(server.url)}/hook"))
    assert outcome.error_type == "blocked"
    assert "write it as 127.0.0.1" in (outcome.error_message or "")
    assert server.connections == 0


@pytest.mark.parametrize("host", ["[::ffff:127.0.0.1]", "127.0.0.1"])
async def test_allowing_private_targets_reaches_the_same_receiver(
    deliverer: Deliverer, raw_server: Callable[[Handler], Awaitable[RawServer]], host: str
) -> None:
    # The receiver the blocked forms above never reached does answer when allowed.
    server = await raw_server(answer_ok)
    outcome = await deliverer.attempt(make_job(f"http://{host}:{port_of_url(server.url)}/hook"))
    assert outcome.success, outcome.error_message
    assert server.connections == 1


def port_of_url(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
