"""Egress guard: resolve a target, refuse non-global addresses, dial only what was checked.

`CheckedResolver` is handed to aiohttp's connector, so the addresses it returns are
exactly the ones dialled: there is no second lookup a rebinding DNS server could answer
differently. Literal IP hosts never reach a resolver in aiohttp, so `check_literal`
covers them before the request starts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from functools import lru_cache

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(Exception):
    """The target resolves to an address outside the global unicast space.

    Deliberately not an OSError: aiohttp wraps OSErrors from resolvers into DNS errors,
    while other exceptions pass through unchanged and can be told apart.
    """

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        shown = _with_embedded_ipv4(address)
        if parse_ip(host) is None and inet_aton_value(host) is not None:
            message = (f"refused: host {host} is a non-canonical form of the IPv4 address {address}; "
                       "write the address as four decimal numbers (a.b.c.d) or use a DNS name")
        else:
            where = shown if host == address else f"{host} resolves to {shown}"
            message = (f"refused: {where}, which is not a public address "
                       "(set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it)")
        super().__init__(message)


# The IANA IPv4 and IPv6 Special-Purpose Address Registries, with their "Globally
# Reachable" column as the verdict: the one source of what may be dialled, so the
# answer does not depend on which Python version's `ipaddress` is installed.
# Longest prefix wins. Forms that carry an IPv4 address (mapped, NAT64 64:ff9b::/96,
# 6to4, Teredo) are judged by that address first; see `embedded_ipv4`.
SPECIAL_PURPOSE: tuple[tuple[str, str, bool], ...] = (
    ("0.0.0.0/8", "This network", False),
    ("10.0.0.0/8", "Private-Use", False),
    ("100.64.0.0/10", "Shared Address Space", False),
    ("127.0.0.0/8", "Loopback", False),
    ("169.254.0.0/16", "Link Local", False),
    ("172.16.0.0/12", "Private-Use", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", False),
    ("192.0.0.8/32", "IPv4 dummy address", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", True),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", False),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", False),
    ("192.31.196.0/24", "AS112-v4", True),
    ("192.52.193.0/24", "AMT", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", False),
    ("192.168.0.0/16", "Private-Use", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", True),
    ("198.18.0.0/15", "Benchmarking", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", False),
    ("224.0.0.0/4", "Multicast (IPv4 Multicast Address Space registry)", False),
    ("240.0.0.0/4", "Reserved", False),
    ("255.255.255.255/32", "Limited Broadcast", False),
    ("::/0", "Not global unicast (outside 2000::/3, RFC 4291)", False),
    ("2000::/3", "Global Unicast (RFC 4291)", True),
    ("::1/128", "Loopback Address", False),
    ("::/128", "Unspecified Address", False),
    ("::/96", "IPv4-compatible, deprecated (RFC 4291 2.5.5.1)", False),
    ("::ffff:0:0/96", "IPv4-mapped Address (judged by the IPv4 address)", True),
    ("::ffff:0:0:0/96", "IPv4-translated Address (RFC 2765)", False),
    ("64:ff9b::/96", "IPv4-IPv6 Translat. (judged by the IPv4 address)", True),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", False),
    ("100::/64", "Discard-Only Address Block", False),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", False),
    ("2001::/23", "IETF Protocol Assignments", False),
    ("2001::/32", "TEREDO (judged by the client IPv4 address)", True),
    ("2001:1::1/128", "Port Control Protocol Anycast", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", True),
    ("2001:2::/48", "Benchmarking", False),
    ("2001:3::/32", "AMT", True),
    ("2001:4:112::/48", "AS112-v6", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", False),
    ("2001:20::/28", "ORCHIDv2", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", True),
    ("2001:db8::/32", "Documentation", False),
    ("2002::/16", "6to4 (judged by the IPv4 address)", True),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", True),
    ("3fff::/20", "Documentation", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", False),
    ("fc00::/7", "Unique-Local", False),
    ("fe80::/10", "Link-Local Unicast", False),
    ("ff00::/8", "Multicast", False),
)

_NETWORKS = sorted(
    ((ipaddress.ip_network(prefix), name, verdict) for prefix, name, verdict in SPECIAL_PURPOSE),
    key=lambda entry: entry[0].prefixlen,
    reverse=True,
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 host an IPv6 form reaches: mapped, NAT64 64:ff9b::/96, 6to4, Teredo (client); else None."""
    if address in _MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIXTOFOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    if address in _TEREDO:
        return ipaddress.IPv4Address(~int(address) & 0xFFFFFFFF)  # the client address is stored inverted
    return None


def effective_address(address: IPAddress) -> IPAddress:
    """The address that is finally reached: the embedded IPv4 of the forms above, else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        return embedded_ipv4(address) or address
    return address


def registry_entry(address: IPAddress) -> tuple[str, str, bool]:
    """(prefix, name, globally reachable) of the most specific registry entry holding `address`."""
    for network, name, verdict in _NETWORKS:
        if address.version == network.version and address in network:
            return str(network), name, verdict
    return "0.0.0.0/0", "Not special-purpose", True


def is_public(address: IPAddress) -> bool:
    """True when the registries call the address, and any IPv4 address it embeds, globally reachable."""
    if not registry_entry(address)[2]:
        return False
    embedded = effective_address(address)
    return embedded is address or registry_entry(embedded)[2]


_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def inet_aton_value(host: str) -> int | None:
    """The address inet_aton would read from `host` ("127.1", "2130706433", "0x7f.1", "0177.0.0.1"), or None.

    Some resolvers and proxies still read these forms, so they are normalised and judged, never passed on.
    """
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.match(part) for part in parts):
        return None
    values = [_number(part) for part in parts]
    *head, last = values
    if any(value > 255 for value in head) or last >= 1 << (8 * (5 - len(parts))):
        return None
    result = 0
    for value in head:
        result = result << 8 | value
    return result << (8 * (5 - len(parts))) | last


def _number(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def parse_ip(host: str) -> IPAddress | None:
    """The address a URL host names literally ("[::1]" or "::1" or "127.0.0.1"), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def first_refused(addresses: Iterable[str]) -> str | None:
    """The first address that may not be dialled, or None when every one is public."""
    for text in addresses:
        parsed = parse_ip(text)
        if parsed is None or not is_public(parsed):
            return text
    return None


def _with_embedded_ipv4(text: str) -> str:
    parsed = parse_ip(text)
    if parsed is None or effective_address(parsed) == parsed:
        return text
    return f"{text} (IPv4 {effective_address(parsed)})"


def check_literal(host: str, *, allow_private: bool) -> None:
    """Raise EgressRefused when `host` is a literal IP that may not be dialled, or an IPv4 in a non-canonical form."""
    refused = _refused_literal(host, allow_private)
    if refused is not None:
        raise EgressRefused(refused, refused) if parse_ip(host) is not None else EgressRefused(host, refused)


@lru_cache(maxsize=1024)
def _refused_literal(host: str, allow_private: bool) -> str | None:
    # Runs before every attempt; a host's answer never changes, so parse it once.
    address = parse_ip(host)
    if address is None:
        value = inet_aton_value(host)
        # Never dialled: the HTTP client refuses these forms, and a retry cannot change that.
        return None if value is None else str(ipaddress.IPv4Address(value))
    if allow_private or is_public(address):
        return None
    return str(address)


class CheckedResolver(AbstractResolver):
    """getaddrinfo, then refuse the whole host if ANY address is non-public.

    All-or-nothing because a host with one private address is a rebinding or
    misconfiguration signal, and happy-eyeballs could otherwise pick that address.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await _getaddrinfo(host, port, family)
        if not self._allow_private:
            refused = first_refused(result["host"] for result in results)
            if refused is not None:
                raise EgressRefused(host, refused)
        return results

    async def close(self) -> None:
        """Nothing to release: lookups go through the event loop's getaddrinfo."""


async def _getaddrinfo(host: str, port: int, family: int) -> list[ResolveResult]:
    # No AI_ADDRCONFIG: on a host with only loopback it hides "localhost" entirely, and
    # every returned address is checked anyway; unreachable families just fail over.
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
    results = [_to_result(host, port, info) for info in infos]
    if not results:
        raise OSError(f"{host} has no addresses")
    return _unique(results)


def _to_result(
    host: str, port: int, info: tuple[int, int, int, str, tuple[object, ...]]
) -> ResolveResult:
    family, _type, proto, _canon, sockaddr = info
    address = str(sockaddr[0]).split("%", 1)[0]
    if family == socket.AF_INET6 and len(sockaddr) > 3 and sockaddr[3]:
        address = f"{address}%{sockaddr[3]}"  # keep the scope so link-local dials correctly
    return {
        "hostname": host,
        "host": address,
        "port": port,
        "family": family,
        "proto": proto,
        "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    }


def _unique(results: list[ResolveResult]) -> list[ResolveResult]:
    seen: set[tuple[str, int]] = set()
    unique = []
    for result in results:
        key = (result["host"], result["family"])
        if key not in seen:
            seen.add(key)
            unique.append(result)
    return unique
