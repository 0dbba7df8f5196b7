"""Egress guard: resolve a target, refuse non-global addresses, dial only what was checked.

`CheckedResolver` is handed to aiohttp's connector, so the addresses it returns are
exactly the ones dialled: there is no second lookup a rebinding DNS server could answer
differently. Literal IP hosts never reach a resolver in aiohttp, so `check_literal`
covers them before the request starts.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
        where = shown if host == address else f"{host} resolves to {shown}"
        super().__init__(
            f"refused: {where}, which is not a public address "
            "(set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it)"
        )


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def effective_address(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form carries (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::, 6to4), else itself.

    Those forms reach the embedded IPv4 host, so they are judged by it.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour or address


def is_public(address: IPAddress) -> bool:
    """True for global unicast only: not private, loopback, link-local, shared, reserved, multicast."""
    checked = effective_address(address)
    return checked.is_global and not checked.is_multicast


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
    """Raise EgressRefused when `host` is a literal IP that may not be dialled."""
    refused = _refused_literal(host, allow_private)
    if refused is not None:
        raise EgressRefused(refused, refused)


@lru_cache(maxsize=4096)
def _refused_literal(host: str, allow_private: bool) -> str | None:
    # Runs before every attempt; a host's answer never changes, so parse it once.
    address = parse_ip(host)
    if address is None or allow_private or is_public(address):
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
    # sidecar/resolve.py: its own threads, so a name whose DNS never answers stalls only itself.
    from sidecar.resolve import lookup

    infos = await lookup(host, family)
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
