"""Which addresses the egress guard lets through: pure checks, no traffic."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import ResolveResult

from sidecar.egress import CheckedResolver, EgressRefused, check_literal, first_refused, is_public


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "169.254.169.254",
        "127.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "240.0.0.1", "192.0.2.1",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::10.0.0.1",
        "64:ff9b::127.0.0.1", "2002:a00:1::1", "2002:7f00:1::",
    ],
)
def test_non_global_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8"],
)
def test_global_unicast_addresses_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_global_multicast_is_refused() -> None:
    # 233.252.0.0/24 (MCAST-TEST-NET) and ff0e:: are multicast ranges some versions call global.
    assert not is_public(ipaddress.ip_address("233.252.0.1"))
    assert not is_public(ipaddress.ip_address("ff0e::1"))


def test_one_private_address_refuses_the_whole_host() -> None:
    assert first_refused(["8.8.8.8", "10.0.0.1"]) == "10.0.0.1"
    assert first_refused(["8.8.8.8", "2606:4700:4700::1111"]) is None


def test_literal_private_ip_is_refused_with_its_address() -> None:
    with pytest.raises(EgressRefused, match="127.0.0.1"):
        check_literal("127.0.0.1", allow_private=False)


def test_literal_mapped_ipv6_is_refused() -> None:
    with pytest.raises(EgressRefused, match=r"::ffff:7f00:1 \(IPv4 127\.0\.0\.1\)"):
        check_literal("::ffff:127.0.0.1", allow_private=False)


def test_literal_checks_pass_when_private_is_allowed_or_host_is_a_name() -> None:
    check_literal("127.0.0.1", allow_private=True)
    check_literal("8.8.8.8", allow_private=False)
    check_literal("hooks.example.com", allow_private=False)


async def test_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    with pytest.raises(EgressRefused, match="localhost resolves to"):
        await CheckedResolver(allow_private=False).resolve("localhost", 80, socket.AF_UNSPEC)


async def test_resolver_returns_checked_addresses_when_private_is_allowed() -> None:
    results = await CheckedResolver(allow_private=True).resolve("localhost", 8080, socket.AF_INET)
    assert {r["host"] for r in results} == {"127.0.0.1"}
    assert all(r["port"] == 8080 and r["hostname"] == "localhost" for r in results)


async def test_resolver_refuses_when_any_address_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    import sidecar.egress as egress

    async def fake(host: str, port: int, family: int) -> list[ResolveResult]:
        return [egress._to_result(host, port, (socket.AF_INET, 1, 6, "", (a, port))) for a in ("8.8.8.8", "10.0.0.7")]

    monkeypatch.setattr(egress, "_getaddrinfo", fake)
    with pytest.raises(EgressRefused, match="10.0.0.7"):
        await CheckedResolver(allow_private=False).resolve("rebind.example", 443)


async def test_resolver_passes_an_all_public_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import sidecar.egress as egress

    async def fake(host: str, port: int, family: int) -> list[ResolveResult]:
        return [egress._to_result(host, port, (socket.AF_INET, 1, 6, "", ("8.8.8.8", port)))]

    monkeypatch.setattr(egress, "_getaddrinfo", fake)
    results = await CheckedResolver(allow_private=False).resolve("dns.example", 443)
    assert [r["host"] for r in results] == ["8.8.8.8"]


@pytest.mark.parametrize(
    "address",
    [
        "::127.0.0.1", "::8.8.8.8",  # IPv4-compatible ::/96, deprecated: dialled as IPv6 anyway
        "64:ff9b:1::1", "64:ff9b:1::8.8.8.8",  # local-use NAT64
        "::ffff:0:7f00:1", "::ffff:0:808:808",  # IPv4-translated
        "3fff::1", "5f00::1", "192.0.0.8", "192.0.0.170", "192.0.0.1",
        "2001:2::1", "2001:10::1", "100::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo whose client is 192.0.2.45
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
        "2002:c000:0204::1",  # 6to4 of 192.0.2.4
        "64:ff9b::192.168.0.1",
    ],
)
def test_registry_non_global_ranges_are_refused_whatever_python_says(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    ["192.0.0.9", "192.0.0.10", "192.31.196.1", "2001:1::1", "2001:4:112::1", "2002:808:808::1",
     "2001:0:4136:e378:8000:63bf:f7f7:f7f7"],  # Teredo whose client is 8.8.8.8
)
def test_registry_global_entries_are_allowed(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706433", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
     ("10.1", "10.0.0.1"), ("0x7f.1", "127.0.0.1"), ("134744072", "8.8.8.8"), ("127.0.0.1.", "127.0.0.1")],
)
def test_non_canonical_ipv4_hosts_are_refused_with_their_address(host: str, address: str) -> None:
    for allow_private in (False, True):
        with pytest.raises(EgressRefused, match=f"non-canonical form of the IPv4 address {address}"):
            check_literal(host, allow_private=allow_private)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.com", "1.2.3.4.5", "0x1g.1"])
def test_names_that_only_look_numeric_are_left_to_the_resolver(host: str) -> None:
    check_literal(host, allow_private=False)
