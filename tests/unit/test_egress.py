"""Which addresses and host spellings the egress guard lets through: pure checks, no traffic."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import ResolveResult

from sidecar.delivery.egress import (
    SPECIAL_PURPOSE,
    CheckedResolver,
    EgressRefused,
    Reach,
    check_literal,
    first_refused,
    is_public,
    read_literal,
)

# A frozen copy of the IANA IPv4 and IPv6 Special-Purpose Address Registries (as
# updated 2025-10-09): address block, name, RFC, "Globally Reachable". A silent edit of
# the table in sidecar/delivery/egress.py fails here; a registry update changes both.
REGISTRY_V4 = [
    ("0.0.0.0/8", '"This network"', "RFC 791, section 3.2", "False"),
    ("0.0.0.0/32", '"This host on this network"', "RFC 1122, section 3.2.1.3", "False"),
    ("10.0.0.0/8", "Private-Use", "RFC 1918", "False"),
    ("100.64.0.0/10", "Shared Address Space", "RFC 6598", "False"),
    ("127.0.0.0/8", "Loopback", "RFC 1122, section 3.2.1.3", "False"),
    ("169.254.0.0/16", "Link Local", "RFC 3927", "False"),
    ("172.16.0.0/12", "Private-Use", "RFC 1918", "False"),
    ("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890, section 2.1", "False"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", "False"),
    ("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", "False"),
    ("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", "True"),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", "True"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2", "False"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2", "False"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", "False"),
    ("192.31.196.0/24", "AS112-v4", "RFC 7535", "True"),
    ("192.52.193.0/24", "AMT", "RFC 7450", "True"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", "N/A"),
    ("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", "False"),
    ("192.168.0.0/16", "Private-Use", "RFC 1918", "False"),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", "True"),
    ("198.18.0.0/15", "Benchmarking", "RFC 2544", "False"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", "False"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", "False"),
    ("240.0.0.0/4", "Reserved", "RFC 1112, section 4", "False"),
    ("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 section 7", "False"),
]
REGISTRY_V6 = [
    ("::1/128", "Loopback Address", "RFC 4291", "False"),
    ("::/128", "Unspecified Address", "RFC 4291", "False"),
    ("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", "False"),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", "True"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", "False"),
    ("100::/64", "Discard-Only Address Block", "RFC 6666", "False"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", "False"),
    ("2001::/23", "IETF Protocol Assignments", "RFC 2928", "False"),
    ("2001::/32", "TEREDO", "RFC 4380, RFC 8190", "N/A"),
    ("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", "True"),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", "True"),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", "True"),
    ("2001:2::/48", "Benchmarking", "RFC 5180", "False"),
    ("2001:3::/32", "AMT", "RFC 7450", "True"),
    ("2001:4:112::/48", "AS112-v6", "RFC 7535", "True"),
    ("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", "N/A"),
    ("2001:20::/28", "ORCHIDv2", "RFC 7343", "True"),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", "True"),
    ("2001:db8::/32", "Documentation", "RFC 3849", "False"),
    ("2002::/16", "6to4", "RFC 3056", "N/A"),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", "True"),
    ("3fff::/20", "Documentation", "RFC 9637", "False"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", "False"),
    ("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", "False"),
    ("fe80::/10", "Link-Local Unicast", "RFC 4291", "False"),
]
# Rows the registries leave out, and the verdict of each.
NOT_IN_REGISTRY = [
    ("224.0.0.0/4", Reach.LOCAL),
    ("ff00::/8", Reach.LOCAL),
    ("::/96", Reach.LOCAL),
    ("::ffff:0:0:0/96", Reach.LOCAL),
    ("fec0::/10", Reach.LOCAL),
    ("::/0", Reach.LOCAL),
    ("2000::/3", Reach.GLOBAL),
]
# Where the verdict is not simply the registry's True/False (README "Security" says why).
DECIDED_HERE = {
    "192.88.99.0/24": Reach.LOCAL,
    "2001:10::/28": Reach.LOCAL,
    "2001::/32": Reach.EMBEDDED,
    "2002::/16": Reach.EMBEDDED,
    "64:ff9b::/96": Reach.EMBEDDED,
    "::ffff:0:0/96": Reach.EMBEDDED,
}


def test_the_table_is_the_registry() -> None:
    rows = [(e.prefix, e.name, e.rfc, e.registry) for e in SPECIAL_PURPOSE if e.registry is not None]
    assert rows == REGISTRY_V4 + REGISTRY_V6
    extra = [(e.prefix, e.reach) for e in SPECIAL_PURPOSE if e.registry is None]
    assert extra == NOT_IN_REGISTRY


def test_each_verdict_follows_the_globally_reachable_column_or_a_documented_choice() -> None:
    for entry in SPECIAL_PURPOSE:
        if entry.registry is None:
            continue
        expected = DECIDED_HERE.get(entry.prefix) or {"True": Reach.GLOBAL, "False": Reach.LOCAL}[entry.registry]
        assert entry.reach is expected, entry.prefix


ALLOWED, REFUSED = True, False
# The first and last address of every row, and what the guard must say about it.
EDGES = [
    ("0.0.0.0", REFUSED),  # 0.0.0.0/8
    ("0.255.255.255", REFUSED),
    ("10.0.0.0", REFUSED),  # 10.0.0.0/8
    ("10.255.255.255", REFUSED),
    ("100.64.0.0", REFUSED),  # 100.64.0.0/10
    ("100.127.255.255", REFUSED),
    ("127.0.0.0", REFUSED),  # 127.0.0.0/8
    ("127.255.255.255", REFUSED),
    ("169.254.0.0", REFUSED),  # 169.254.0.0/16
    ("169.254.255.255", REFUSED),
    ("172.16.0.0", REFUSED),  # 172.16.0.0/12
    ("172.31.255.255", REFUSED),
    ("192.0.0.0", REFUSED),  # 192.0.0.0/24
    ("192.0.0.255", REFUSED),
    ("192.0.0.7", REFUSED),  # 192.0.0.0/29
    ("192.0.0.8", REFUSED),  # 192.0.0.8/32
    ("192.0.0.9", ALLOWED),  # 192.0.0.9/32
    ("192.0.0.10", ALLOWED),  # 192.0.0.10/32
    ("192.0.0.170", REFUSED),  # 192.0.0.170/32
    ("192.0.0.171", REFUSED),  # 192.0.0.171/32
    ("192.0.2.0", REFUSED),  # 192.0.2.0/24
    ("192.0.2.255", REFUSED),
    ("192.31.196.0", ALLOWED),  # 192.31.196.0/24
    ("192.31.196.255", ALLOWED),
    ("192.52.193.0", ALLOWED),  # 192.52.193.0/24
    ("192.52.193.255", ALLOWED),
    ("192.88.99.0", REFUSED),  # 192.88.99.0/24
    ("192.88.99.255", REFUSED),
    ("192.88.99.2", REFUSED),  # 192.88.99.2/32
    ("192.168.0.0", REFUSED),  # 192.168.0.0/16
    ("192.168.255.255", REFUSED),
    ("192.175.48.0", ALLOWED),  # 192.175.48.0/24
    ("192.175.48.255", ALLOWED),
    ("198.18.0.0", REFUSED),  # 198.18.0.0/15
    ("198.19.255.255", REFUSED),
    ("198.51.100.0", REFUSED),  # 198.51.100.0/24
    ("198.51.100.255", REFUSED),
    ("203.0.113.0", REFUSED),  # 203.0.113.0/24
    ("203.0.113.255", REFUSED),
    ("240.0.0.0", REFUSED),  # 240.0.0.0/4
    ("255.255.255.255", REFUSED),
    ("::1", REFUSED),  # ::1/128
    ("::", REFUSED),  # ::/128
    ("::ffff:0:0", REFUSED),  # ::ffff:0:0/96
    ("::ffff:ffff:ffff", REFUSED),
    ("64:ff9b::", REFUSED),  # 64:ff9b::/96
    ("64:ff9b::ffff:ffff", REFUSED),
    ("64:ff9b:1::", REFUSED),  # 64:ff9b:1::/48
    ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("100::", REFUSED),  # 100::/64
    ("100::ffff:ffff:ffff:ffff", REFUSED),
    ("100:0:0:1::", REFUSED),  # 100:0:0:1::/64
    ("100::1:ffff:ffff:ffff:ffff", REFUSED),
    ("2001::", REFUSED),  # 2001::/23
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),  # 2001::/32
    ("2001:1::1", ALLOWED),  # 2001:1::1/128
    ("2001:1::2", ALLOWED),  # 2001:1::2/128
    ("2001:1::3", ALLOWED),  # 2001:1::3/128
    ("2001:2::", REFUSED),  # 2001:2::/48
    ("2001:2:0:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("2001:3::", ALLOWED),  # 2001:3::/32
    ("2001:3:ffff:ffff:ffff:ffff:ffff:ffff", ALLOWED),
    ("2001:4:112::", ALLOWED),  # 2001:4:112::/48
    ("2001:4:112:ffff:ffff:ffff:ffff:ffff", ALLOWED),
    ("2001:10::", REFUSED),  # 2001:10::/28
    ("2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("2001:20::", ALLOWED),  # 2001:20::/28
    ("2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", ALLOWED),
    ("2001:30::", ALLOWED),  # 2001:30::/28
    ("2001:3f:ffff:ffff:ffff:ffff:ffff:ffff", ALLOWED),
    ("2001:db8::", REFUSED),  # 2001:db8::/32
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("2002::", REFUSED),  # 2002::/16
    ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("2620:4f:8000::", ALLOWED),  # 2620:4f:8000::/48
    ("2620:4f:8000:ffff:ffff:ffff:ffff:ffff", ALLOWED),
    ("3fff::", REFUSED),  # 3fff::/20
    ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("5f00::", REFUSED),  # 5f00::/16
    ("5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("fc00::", REFUSED),  # fc00::/7
    ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("fe80::", REFUSED),  # fe80::/10
    ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("224.0.0.0", REFUSED),  # 224.0.0.0/4
    ("239.255.255.255", REFUSED),
    ("ff00::", REFUSED),  # ff00::/8
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("::ffff:ffff", REFUSED),  # ::/96
    ("::ffff:0:0:0", REFUSED),  # ::ffff:0:0:0/96
    ("::ffff:0:ffff:ffff", REFUSED),
    ("fec0::", REFUSED),  # fec0::/10
    ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED),
    ("2000::", ALLOWED),  # 2000::/3
    ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOWED),
]


@pytest.mark.parametrize(("address", "allowed"), EDGES)
def test_each_rows_first_and_last_address(address: str, allowed: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is allowed


def test_every_row_has_its_edges_listed() -> None:
    listed = {address for address, _ in EDGES}
    for entry in SPECIAL_PURPOSE:
        assert {str(entry.network.network_address), str(entry.network.broadcast_address)} <= listed, entry.prefix


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        # Just outside a refused row, the next row (or none) decides.
        ("9.255.255.255", ALLOWED), ("11.0.0.0", ALLOWED), ("100.63.255.255", ALLOWED),
        ("100.128.0.0", ALLOWED), ("126.255.255.255", ALLOWED), ("128.0.0.0", ALLOWED),
        ("172.15.255.255", ALLOWED), ("172.32.0.0", ALLOWED), ("192.0.1.0", ALLOWED),
        ("223.255.255.255", ALLOWED), ("2001:200::", ALLOWED), ("2001:db9::", ALLOWED),
        ("2003::", ALLOWED), ("3fff:1000::", ALLOWED), ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ALLOWED),
        # 192.0.0.0/24 is refused but for its two global /32s.
        ("192.0.0.8", REFUSED), ("192.0.0.9", ALLOWED), ("192.0.0.10", ALLOWED), ("192.0.0.11", REFUSED),
        ("192.0.0.169", REFUSED), ("192.0.0.172", REFUSED),
        # 2001::/23 is refused but for its global rows.
        ("2001:1::", REFUSED), ("2001:1::4", REFUSED), ("2001:2:1::", REFUSED), ("2001:4::", REFUSED),
        ("2001:4:113::", REFUSED), ("2001:40::", REFUSED), ("2001:1ff::1", REFUSED),
        ("2001:3:1::1", ALLOWED), ("2001:20::1", ALLOWED), ("2001:30::1", ALLOWED),
        # Outside 2000::/3 nothing is allocated for global unicast.
        ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", REFUSED), ("4000::1", REFUSED), ("e000::1", REFUSED),
        ("8.8.8.8", ALLOWED), ("1.1.1.1", ALLOWED), ("2606:4700:4700::1111", ALLOWED),
    ],
)
def test_neighbours_and_exceptions(address: str, allowed: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is allowed


def _carrying(ipv4: str) -> dict[str, str]:
    """Every IPv6 form that carries `ipv4`, keyed by name."""
    n = int(ipaddress.IPv4Address(ipv4))
    return {
        "mapped": str(ipaddress.IPv6Address((0xFFFF << 32) | n)),
        "nat64": str(ipaddress.IPv6Address((0x64FF9B << 96) | n)),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
        "teredo server": str(ipaddress.IPv6Address((0x20010000 << 96) | (n << 64) | (0xF7F7F7F7))),
        "teredo client": str(ipaddress.IPv6Address((0x20010000 << 96) | (0x08080808 << 64) | (n ^ 0xFFFFFFFF))),
    }


@pytest.mark.parametrize("ipv4", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "192.0.0.8",
                                  "198.18.0.1", "224.0.0.1", "240.0.0.1", "0.0.0.0"])
def test_forms_carrying_a_refused_ipv4_are_refused(ipv4: str) -> None:
    for form, address in _carrying(ipv4).items():
        assert not is_public(ipaddress.ip_address(address)), form


def test_forms_carrying_a_global_ipv4_are_allowed() -> None:
    # The Teredo client form above carries 8.8.8.8 as its server; the server form 8.8.8.8 as client.
    for form, address in _carrying("8.8.8.8").items():
        assert is_public(ipaddress.ip_address(address)), form
    assert is_public(ipaddress.ip_address("192.0.0.9"))
    assert is_public(ipaddress.ip_address("64:ff9b::c000:9"))


@pytest.mark.parametrize(
    "address",
    [
        "::127.0.0.1", "::8.8.8.8",  # IPv4-compatible: refused whatever it carries
        "::ffff:0:127.0.0.1", "::ffff:0:8.8.8.8",  # IPv4-translated (SIIT)
        "64:ff9b:1::a9fe:a9fe", "64:ff9b:1::808:808",  # local-use NAT64: a local translator decides
        "3fff::1", "5f00::1", "fec0::1", "233.252.0.1", "ff0e::1",
    ],
)
def test_forms_python_3_11_calls_global_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


def test_one_private_address_refuses_the_whole_host() -> None:
    assert first_refused(["8.8.8.8", "10.0.0.1"]) == "10.0.0.1"
    assert first_refused(["8.8.8.8", "fe80::1%2"]) == "fe80::1%2"
    assert first_refused(["8.8.8.8", "not-an-address"]) == "not-an-address"
    assert first_refused(["8.8.8.8", "2606:4700:4700::1111"]) is None


@pytest.mark.parametrize(
    ("host", "address", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("2130706433", "127.0.0.1", False),
        ("0x7f000001", "127.0.0.1", False),
        ("017700000001", "127.0.0.1", False),
        ("127.1", "127.0.0.1", False),
        ("127.0.1", "127.0.0.1", False),
        ("10.1", "10.0.0.1", False),
        ("0177.0.0.1", "127.0.0.1", False),
        ("0x7f.1", "127.0.0.1", False),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1", False),
        ("0x.0.0.0", "0.0.0.0", False),
        ("127.0.0.1.", "127.0.0.1", False),
        ("127.0.0.1%2e", "127.0.0.1", False),
        ("%31%32%37.0.0.1", "127.0.0.1", False),
        ("169.254.43518", "169.254.169.254", False),
        ("::1", "::1", True),
        ("[::1]", "::1", True),
        ("::127.0.0.1", "::7f00:1", True),
        ("::ffff:127.0.0.1", "::ffff:7f00:1", True),
        ("::ffff:0:127.0.0.1", "::ffff:0:7f00:1", True),
        ("fe80::1%25eth0", "fe80::1", True),
        ("fe80::1%eth0", "fe80::1", True),
        ("8.8.8.8", "8.8.8.8", True),
    ],
)
def test_every_literal_spelling_is_read_as_its_address(host: str, address: str, canonical: bool) -> None:
    literal = read_literal(host)
    assert literal is not None
    assert (str(literal.address), literal.canonical) == (address, canonical)


@pytest.mark.parametrize("host", ["hooks.example.com", "localhost", "127.0.0.1.nip.io", "0x7f.example", "a.b.", "1.2.3.x"])
def test_names_are_left_to_the_resolver(host: str) -> None:
    assert read_literal(host) is None


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "256.0.0.1", "1.2.3.256", "1.2.65536", "4294967296", "09.1.1.1", "1.2.3.08",
             "1..2.3", "0xg.1", "foo.1", "::zz", "fe80::1%", "[::ffff:0177.0.0.1]"],
)
def test_a_host_that_looks_like_an_address_but_is_none_is_refused(host: str) -> None:
    with pytest.raises(ValueError):
        read_literal(host)
    for allow_private in (False, True):
        with pytest.raises(EgressRefused, match="is not a valid IP address.*correct the rule's URL"):
            check_literal(host, allow_private=allow_private)


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("2130706433", r"2130706433 \(IPv4 127\.0\.0\.1\), which is Loopback \(127\.0\.0\.0/8"),
        ("127.1", r"127\.1 \(IPv4 127\.0\.0\.1\), which is Loopback"),
        ("0177.0.0.1", r"0177\.0\.0\.1 \(IPv4 127\.0\.0\.1\)"),
        ("10.1", r"10\.1 \(IPv4 10\.0\.0\.1\), which is Private-Use \(10\.0\.0\.0/8, RFC 1918\)"),
        ("0x7f.1", r"0x7f\.1 \(IPv4 127\.0\.0\.1\)"),
        ("127.0.0.1.", r"127\.0\.0\.1\. \(IPv4 127\.0\.0\.1\)"),
        ("::127.0.0.1", r"::7f00:1 \(IPv4 127\.0\.0\.1\), which is IPv4-compatible Address"),
        ("::ffff:127.0.0.1", r"::ffff:7f00:1 \(IPv4 127\.0\.0\.1\), which is Loopback"),
        ("::ffff:0:127.0.0.1", r"::ffff:0:7f00:1 \(IPv4 127\.0\.0\.1\), which is IPv4-translated"),
        ("64:ff9b::a9fe:a9fe", r"64:ff9b::a9fe:a9fe \(IPv4 169\.254\.169\.254\), which is Link Local"),
        ("64:ff9b:1::a9fe:a9fe", r"64:ff9b:1::a9fe:a9fe, which is IPv4-IPv6 Translat\. \(64:ff9b:1::/48, RFC 8215\)"),
        ("2002:7f00:1::1", r"2002:7f00:1::1 \(IPv4 127\.0\.0\.1\)"),
        ("2001:0:808:808::80ff:fffe", r"2001:0:808:808::80ff:fffe \(IPv4 127\.0\.0\.1\), which is Loopback"),
        ("fe80::1%25eth0", r"fe80::1, which is Link-Local Unicast"),
        ("3fff::1", r"3fff::1, which is Documentation \(3fff::/20, RFC 9637\)"),
        ("5f00::1", r"5f00::1, which is Segment Routing \(SRv6\) SIDs"),
        ("192.0.0.8", r"192\.0\.0\.8, which is IPv4 dummy address"),
    ],
)
def test_a_literal_host_naming_a_refused_address_says_which_and_why(host: str, shown: str) -> None:
    with pytest.raises(EgressRefused, match=f"refused: {shown}.*not globally reachable") as refused:
        check_literal(host, allow_private=False)
    assert "WEBHOOK_ALLOW_PRIVATE_TARGETS=true" in str(refused.value)


@pytest.mark.parametrize("host", ["::127.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b:1::7f00:1", "fe80::1%25eth0", "127.0.0.1"])
def test_allowing_private_targets_lets_every_address_form_through(host: str) -> None:
    check_literal(host, allow_private=True)


@pytest.mark.parametrize(("host", "address"), [("127.1", "127.0.0.1"), ("134744072", "8.8.8.8"), ("8.8.8.8.", "8.8.8.8")])
def test_a_non_standard_ipv4_spelling_is_refused_even_when_allowed(host: str, address: str) -> None:
    # The HTTP client will not dial these spellings, so retrying them would never help.
    for allow_private in (True, False) if address == "8.8.8.8" else (True,):
        with pytest.raises(EgressRefused, match=f"non-standard form.*write it as {address}"):
            check_literal(host, allow_private=allow_private)


def test_a_literal_refusal_names_the_way_out_for_a_non_standard_spelling() -> None:
    with pytest.raises(EgressRefused, match="write it as 127.0.0.1 and set WEBHOOK_ALLOW_PRIVATE_TARGETS=true"):
        check_literal("127.1", allow_private=False)


def test_literal_checks_pass_for_public_addresses_and_names() -> None:
    check_literal("8.8.8.8", allow_private=False)
    check_literal("[2606:4700:4700::1111]", allow_private=False)
    check_literal("::ffff:8.8.8.8", allow_private=False)
    check_literal("hooks.example.com", allow_private=False)


async def test_resolver_refuses_a_name_that_resolves_to_loopback() -> None:
    with pytest.raises(EgressRefused, match="localhost resolves to"):
        await CheckedResolver(allow_private=False).resolve("localhost", 80, socket.AF_UNSPEC)


async def test_resolver_returns_checked_addresses_when_private_is_allowed() -> None:
    results = await CheckedResolver(allow_private=True).resolve("localhost", 8080, socket.AF_INET)
    assert {r["host"] for r in results} == {"127.0.0.1"}
    assert all(r["port"] == 8080 and r["hostname"] == "localhost" for r in results)


async def test_resolver_refuses_when_any_address_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    import sidecar.delivery.egress as egress

    async def fake(host: str, port: int, family: int) -> list[ResolveResult]:
        return [egress._to_result(host, port, (socket.AF_INET, 1, 6, "", (a, port))) for a in ("8.8.8.8", "10.0.0.7")]

    monkeypatch.setattr(egress, "_getaddrinfo", fake)
    with pytest.raises(EgressRefused, match=r"rebind.example resolves to 10.0.0.7, which is Private-Use"):
        await CheckedResolver(allow_private=False).resolve("rebind.example", 443)


async def test_resolver_passes_an_all_public_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import sidecar.delivery.egress as egress

    async def fake(host: str, port: int, family: int) -> list[ResolveResult]:
        return [egress._to_result(host, port, (socket.AF_INET, 1, 6, "", ("8.8.8.8", port)))]

    monkeypatch.setattr(egress, "_getaddrinfo", fake)
    results = await CheckedResolver(allow_private=False).resolve("dns.example", 443)
    assert [r["host"] for r in results] == ["8.8.8.8"]
