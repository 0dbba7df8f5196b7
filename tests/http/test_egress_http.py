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


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0177.0.0.1", "0x7f.1", "10.1"])
async def test_non_canonical_ipv4_hosts_are_blocked_not_retried(
    deliverer: Deliverer, receiver: Receiver, host: str
) -> None:
    # Even with private targets allowed: these forms are never dialled, and a retry cannot help.
    outcome = await deliverer.attempt(make_job(f"http://{host}:{port_of(receiver)}/ok"))
    assert outcome.error_type == "blocked"
    assert "non-canonical form of the IPv4 address" in (outcome.error_message or "")
    assert receiver.requests == []


@pytest.mark.parametrize("host", ["[::127.0.0.1]", "[::ffff:0:7f00:1]", "[64:ff9b:1::7f00:1]", "[3fff::1]",
                                  "[5f00::1]", "[2002:7f00:1::1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]"])
async def test_special_purpose_ipv6_literals_are_blocked(guarded_deliverer: Deliverer, host: str) -> None:
    outcome = await guarded_deliverer.attempt(make_job(f"http://{host}:9/ok"))
    assert outcome.error_type == "blocked", outcome.error_message


async def test_bad_signing_secret_is_a_final_outcome_not_a_network_error(
    deliverer: Deliverer, receiver: Receiver
) -> None:
    outcome = await deliverer.attempt(make_job(receiver.base_url + "/ok", signing_secret="whsec_" + "A" * 33))
    assert outcome.error_type == "blocked"
    assert "signing_secret" in (outcome.error_message or "")
    assert receiver.requests == []


def _can_unshare() -> str | None:
    import shutil
    import subprocess
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    return None if probe.returncode == 0 else f"unshare --net is not permitted here: {probe.stderr.decode().strip()}"


def test_blocked_outcome_inside_a_loopback_only_network_namespace() -> None:
    """A namespace with only lo: a private target is refused as `blocked`, and nothing listening sees it."""
    import subprocess
    import sys
    reason = _can_unshare()
    if reason is not None:
        pytest.skip(reason)
    script = (
        "import asyncio, socket\n"
        "from sidecar.delivery import Deliverer\n"
        "from tests.http.conftest import make_job\n"
        "async def main():\n"
        "    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); s.setblocking(False)\n"
        "    port = s.getsockname()[1]\n"
        "    async with Deliverer() as d:\n"
        "        outcomes = [await d.attempt(make_job(f'http://{h}:{port}/ok'))\n"
        "                    for h in ('127.0.0.1', '[::127.0.0.1]', '2130706433', 'localhost')]\n"
        "    try:\n"
        "        s.accept(); print('CONNECTED')\n"
        "    except BlockingIOError:\n"
        "        pass\n"
        "    print(' '.join(o.error_type or 'ok' for o in outcomes))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", f"ip link set lo up 2>/dev/null || true; exec {sys.executable} -c \"$0\"",
         script],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["blocked", "blocked", "blocked", "blocked"]
