"""Egress guard: resolve a target, refuse what is not globally reachable, dial only what was checked.

The delivery pool (sidecar/delivery/http1.py) dials exactly the addresses
`CheckedResolver.addresses` returns: there is no second lookup a rebinding DNS server
could answer differently. `check_literal` also runs before a request is built, so a
literal IP host is refused in every spelling a resolver or HTTP client might read as an
address (`read_literal`) before anything is sent.

The verdicts come from `SPECIAL_PURPOSE`, the IANA IPv4 and IPv6 Special-Purpose
Address Registries written out as data, not from one Python version's `ipaddress`.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypedDict
from urllib.parse import unquote

from sidecar.delivery.resolve import lookup
from sidecar.errors import SidecarError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOW_HINT = "set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it"


class EgressRefused(SidecarError):
    """The target may not be dialled: not globally reachable, or a host that names no usable address.

    Deliberately not an OSError: a failed lookup is an OSError (a DNS failure, worth a
    retry), a refusal is final, and the two must stay apart.
    """


class ResolveResult(TypedDict):
    """One address of a name (the shape aiohttp's resolvers return)."""

    hostname: str
    host: str
    port: int
    family: int
    proto: int
    flags: int


class Reach(enum.Enum):
    """What a registry entry means for a delivery."""

    GLOBAL = "allowed"
    LOCAL = "refused"
    EMBEDDED = "decided by the IPv4 address it carries"


@dataclass(frozen=True, slots=True)
class Entry:
    """One row: `registry` is the registry's "Globally Reachable" column, None for rows not in it."""

    prefix: str
    name: str
    rfc: str
    registry: str | None
    reach: Reach
    network: IPNetwork = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", ipaddress.ip_network(self.prefix))


def _row(prefix: str, name: str, rfc: str, registry: str | None, reach: Reach | None = None) -> Entry:
    # Where the registry says True or False the verdict follows it; other rows say why not.
    decided = reach or (Reach.GLOBAL if registry == "True" else Reach.LOCAL)
    return Entry(prefix, name, rfc, registry, decided)


G, L, E = Reach.GLOBAL, Reach.LOCAL, Reach.EMBEDDED

# IANA IPv4 and IPv6 Special-Purpose Address Registries (iana-ipv4-special-registry,
# iana-ipv6-special-registry, both as updated 2025-10-09), then the rows they leave out.
# The most specific row containing an address decides, so 192.0.0.9 (True) beats
# 192.0.0.0/24 (False). Choices where the registry says N/A or does not decide:
# - 192.88.99.0/24 (N/A, deprecated 6to4 relay anycast, RFC 7526): refused, nothing
#   legitimate answers webhooks there.
# - 2001:10::/28 (N/A, deprecated ORCHID): refused for the same reason.
# - 2001::/32 Teredo (N/A): its server and client IPv4 both decide (RFC 4380 section 4).
# - 2002::/16 6to4 (N/A): the IPv4 in bits 16-47 decides; that is where packets go.
# - 64:ff9b::/96 well-known NAT64 (True): the IPv4 it carries decides; RFC 6052 section
#   3.1 forbids it for non-global IPv4, and a NAT64 gateway would translate it anyway.
# - ::ffff:0:0/96 IPv4-mapped (False): never on the wire; a dual-stack socket dials the
#   IPv4 it carries, so that IPv4 decides.
# Not in the registry: multicast, ::/96 (IPv4-compatible, deprecated by RFC 4291: what
# it reaches depends on the host's tunnels), ::ffff:0:0:0/96 (SIIT's IPv4-translated
# form, dropped by RFC 6145), fec0::/10 (site-local, deprecated), and every IPv6
# address outside 2000::/3, the only block IANA allocates for global unicast.
SPECIAL_PURPOSE: tuple[Entry, ...] = (
    _row("0.0.0.0/8", '"This network"', "RFC 791, section 3.2", "False"),
    _row("0.0.0.0/32", '"This host on this network"', "RFC 1122, section 3.2.1.3", "False"),
    _row("10.0.0.0/8", "Private-Use", "RFC 1918", "False"),
    _row("100.64.0.0/10", "Shared Address Space", "RFC 6598", "False"),
    _row("127.0.0.0/8", "Loopback", "RFC 1122, section 3.2.1.3", "False"),
    _row("169.254.0.0/16", "Link Local", "RFC 3927", "False"),
    _row("172.16.0.0/12", "Private-Use", "RFC 1918", "False"),
    _row("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890, section 2.1", "False"),
    _row("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", "False"),
    _row("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", "False"),
    _row("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", "True"),
    _row("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", "True"),
    _row("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2", "False"),
    _row("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 section 2.2", "False"),
    _row("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", "False"),
    _row("192.31.196.0/24", "AS112-v4", "RFC 7535", "True"),
    _row("192.52.193.0/24", "AMT", "RFC 7450", "True"),
    _row("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", "N/A", L),
    _row("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", "False"),
    _row("192.168.0.0/16", "Private-Use", "RFC 1918", "False"),
    _row("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", "True"),
    _row("198.18.0.0/15", "Benchmarking", "RFC 2544", "False"),
    _row("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", "False"),
    _row("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", "False"),
    _row("240.0.0.0/4", "Reserved", "RFC 1112, section 4", "False"),
    _row("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 section 7", "False"),
    _row("::1/128", "Loopback Address", "RFC 4291", "False"),
    _row("::/128", "Unspecified Address", "RFC 4291", "False"),
    _row("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", "False", E),
    _row("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", "True", E),
    _row("64:ff9b:1::/48", "IPv4-IPv6 Translat.", "RFC 8215", "False"),
    _row("100::/64", "Discard-Only Address Block", "RFC 6666", "False"),
    _row("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", "False"),
    _row("2001::/23", "IETF Protocol Assignments", "RFC 2928", "False"),
    _row("2001::/32", "TEREDO", "RFC 4380, RFC 8190", "N/A", E),
    _row("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", "True"),
    _row("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", "True"),
    _row("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", "True"),
    _row("2001:2::/48", "Benchmarking", "RFC 5180", "False"),
    _row("2001:3::/32", "AMT", "RFC 7450", "True"),
    _row("2001:4:112::/48", "AS112-v6", "RFC 7535", "True"),
    _row("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", "N/A", L),
    _row("2001:20::/28", "ORCHIDv2", "RFC 7343", "True"),
    _row("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", "True"),
    _row("2001:db8::/32", "Documentation", "RFC 3849", "False"),
    _row("2002::/16", "6to4", "RFC 3056", "N/A", E),
    _row("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", "True"),
    _row("3fff::/20", "Documentation", "RFC 9637", "False"),
    _row("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", "False"),
    _row("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", "False"),
    _row("fe80::/10", "Link-Local Unicast", "RFC 4291", "False"),
    # Not in the Special-Purpose registries:
    _row("224.0.0.0/4", "Multicast", "RFC 5771", None, L),
    _row("ff00::/8", "Multicast", "RFC 4291", None, L),
    _row("::/96", "IPv4-compatible Address (deprecated)", "RFC 4291, section 2.5.5.1", None, L),
    _row("::ffff:0:0:0/96", "IPv4-translated Address (SIIT, obsolete)", "RFC 2765", None, L),
    _row("fec0::/10", "Site-Local (deprecated)", "RFC 3879", None, L),
    _row("::/0", "Outside Global Unicast (reserved or unassigned)", "RFC 4291", None, L),
    _row("2000::/3", "Global Unicast", "RFC 4291", None, G),
)

_MOST_SPECIFIC_FIRST: dict[int, tuple[Entry, ...]] = {
    version: tuple(sorted((e for e in SPECIAL_PURPOSE if e.network.version == version),
                          key=lambda e: -e.network.prefixlen))
    for version in (4, 6)
}
# Rows whose addresses carry an IPv4 address in their low 32 bits (6to4 and Teredo elsewhere).
_CARRIES_IPV4 = frozenset({"::ffff:0:0/96", "64:ff9b::/96", "2001::/32", "2002::/16", "::/96", "::ffff:0:0:0/96"})


def entry_for(address: IPAddress) -> Entry | None:
    """The most specific row containing `address` (every IPv6 address has one), or None."""
    for entry in _MOST_SPECIFIC_FIRST[address.version]:
        if address in entry.network:
            return entry
    return None


def carried_ipv4(address: IPAddress, entry: Entry) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 form of `entry` carries: Teredo carries its server and client."""
    if not isinstance(address, ipaddress.IPv6Address) or entry.prefix not in _CARRIES_IPV4:
        return ()
    if address.teredo is not None:
        return address.teredo
    if address.sixtofour is not None:
        return (address.sixtofour,)
    return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an address may not be dialled: the row that matched `address` (it or an IPv4 it carries)."""

    address: IPAddress
    entry: Entry

    def reason(self) -> str:
        return f"{self.entry.name} ({self.entry.prefix}, {self.entry.rfc})"


@lru_cache(maxsize=4096)
def refusal(address: IPAddress) -> Refusal | None:
    """Why `address` may not be dialled, or None when it is globally reachable (see SPECIAL_PURPOSE)."""
    entry = entry_for(address)
    if entry is None or entry.reach is Reach.GLOBAL:
        return None
    if entry.reach is Reach.LOCAL:
        return Refusal(address, entry)
    for carried in carried_ipv4(address, entry):
        found = refusal(carried)
        if found is not None:
            return found
    return None


def is_public(address: IPAddress) -> bool:
    """True only for globally reachable unicast, judged on the IPv4 an IPv6 form carries where it decides."""
    return refusal(address) is None


def parse_ip(host: str) -> IPAddress | None:
    """The address a resolver's answer names ("::1", "fe80::1%2", "127.0.0.1"), else None."""
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


@dataclass(frozen=True, slots=True)
class Literal:
    """An address a URL host names; `canonical` when written as the address's own text."""

    address: IPAddress
    canonical: bool


_IPV4_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL = re.compile(r"0[0-7]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def read_literal(host: str) -> Literal | None:
    """The address a URL host names in any spelling a resolver accepts, or None for a host name.

    IPv4 is read as the URL Standard and inet_aton read it: 1 to 4 parts, each decimal,
    octal (leading 0) or hex (0x), the last filling the remaining bytes (127.1, 2130706433),
    one trailing dot allowed, percent-escapes decoded. A host whose last label is a number
    is an address or nothing. IPv6 may carry a zone id. Raises ValueError for a host that
    looks like an address but is not a valid one.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in text:
        return Literal(_read_ipv6(text), canonical=True)
    value = _read_ipv4(unquote(text))
    if value is None:
        return None
    address = ipaddress.IPv4Address(value)
    return Literal(address, canonical=text == str(address))


def _read_ipv6(text: str) -> ipaddress.IPv6Address:
    address, percent, zone = text.partition("%")
    if percent and not zone:
        raise ValueError("an IPv6 zone id is empty")
    try:
        return ipaddress.IPv6Address(address)
    except ValueError as exc:
        raise ValueError(f"not a valid IPv6 address: {exc}") from exc


def _read_ipv4(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not _IPV4_NUMBER.fullmatch(parts[-1]):
        return None
    if len(parts) > 4:
        raise ValueError("an IPv4 address has at most four parts")
    *head, last = [_ipv4_part(part) for part in parts]
    if any(number > 255 for number in head) or last >= 256 ** (4 - len(head)):
        raise ValueError("a part of the IPv4 address is out of range")
    return sum(number << 8 * (3 - i) for i, number in enumerate(head)) + last


def _ipv4_part(part: str) -> int:
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if _OCTAL.fullmatch(part):
        return int(part, 8)
    if _DECIMAL.fullmatch(part):
        return int(part)
    raise ValueError(f"{part!r} is not a decimal, octal or hex number")


def check_literal(host: str, *, allow_private: bool) -> None:
    """Raise EgressRefused when `host` names an address that may not be dialled, or names none validly."""
    refused = _refused_literal(host, allow_private)
    if refused is not None:
        raise EgressRefused(refused)


@lru_cache(maxsize=4096)
def _refused_literal(host: str, allow_private: bool) -> str | None:
    # Runs before every attempt; a host's answer never changes, so read it once.
    try:
        literal = read_literal(host)
    except ValueError as exc:
        return f"refused: the URL's host {host} is not a valid IP address ({exc}); correct the rule's URL"
    if literal is None:
        return None  # a name: CheckedResolver checks every address it resolves to
    found = None if allow_private else refusal(literal.address)
    written = host if not literal.canonical else str(literal.address)
    if found is not None:
        hint = ALLOW_HINT if literal.canonical else f"write it as {literal.address} and {ALLOW_HINT}"
        return f"refused: {_described(written, literal.address, found)}, not globally reachable ({hint})"
    if not literal.canonical:
        return (f"refused: the URL's host {host} is IPv4 {literal.address} written in a non-standard form, "
                f"which HTTP clients and resolvers read differently; write it as {literal.address}")
    return None


def _described(written: str, address: IPAddress, found: Refusal) -> str:
    """'2130706433 (IPv4 127.0.0.1), which is Loopback (127.0.0.0/8, RFC 1122 ...)'."""
    ipv4 = _ipv4_shown(written, address, found)
    where = written if ipv4 is None else f"{written} (IPv4 {ipv4})"
    return f"{where}, which is {found.reason()}"


def _ipv4_shown(written: str, address: IPAddress, found: Refusal) -> IPAddress | None:
    if found.address != address:
        return found.address  # decided by the IPv4 it carries
    if isinstance(address, ipaddress.IPv4Address):
        return None if written == str(address) else address
    carried = carried_ipv4(address, found.entry)
    return carried[0] if carried else None


def _resolved_refusal(host: str, text: str) -> str:
    address = parse_ip(text)
    found = None if address is None else refusal(address)
    if address is None or found is None:
        return f"refused: {host} resolves to {text}, which is not an IP address"
    return f"refused: {host} resolves to {_described(text, address, found)}, not globally reachable ({ALLOW_HINT})"


class CheckedResolver:
    """getaddrinfo, then refuse the whole host if ANY address is not globally reachable.

    All-or-nothing because a host with one private address is a rebinding or
    misconfiguration signal, and trying the addresses in turn could otherwise reach it.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def addresses(self, host: str, port: int) -> list[tuple[str, int]]:
        """Where `host` may be dialled, as (address, family): a literal checked as written, a name resolved and checked.

        Raises EgressRefused, or OSError when the name does not resolve.
        """
        literal = parse_ip(host)
        if literal is not None:
            check_literal(host, allow_private=self._allow_private)
            return [(unquote(host), socket.AF_INET6 if literal.version == 6 else socket.AF_INET)]
        return [(result["host"], result["family"]) for result in await self.resolve(host, port, socket.AF_UNSPEC)]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await _getaddrinfo(host, port, family)
        if not self._allow_private:
            refused = first_refused(result["host"] for result in results)
            if refused is not None:
                raise EgressRefused(_resolved_refusal(host, refused))
        return results


async def _getaddrinfo(host: str, port: int, family: int) -> list[ResolveResult]:
    # sidecar/delivery/resolve.py: its own threads, so a name whose DNS never answers stalls only itself.
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
