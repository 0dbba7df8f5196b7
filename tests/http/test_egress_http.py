"""The egress guard end to end: refused targets get nothing, allowed ones get the checked address."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import ResolveResult

from sidecar import egress
from sidecar.delivery import Deliverer
from tests.http.conftest import Receiver, make_job


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


async def test_non_canonical_ipv4_host_is_not_dialled(guarded_deliverer: Deliverer, receiver: Receiver) -> None:
    # 2130706433 is 127.0.0.1 written as one number; it must not slip past the literal check.
    outcome = await guarded_deliverer.attempt(make_job(f"http://2130706433:{port_of(receiver)}/ok"))
    assert outcome.error_type in ("blocked", "network")
    assert receiver.requests == []
