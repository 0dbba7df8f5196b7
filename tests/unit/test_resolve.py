"""The delivery resolver: a lookup that never answers stalls only its own name (no DNS server needed)."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from sidecar.delivery import resolve
from sidecar.delivery.resolve import Resolver


class ScriptedLookups:
    """Stands in for getaddrinfo: names in `hang` block their thread until released; counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.hang: set[str] = set()
        self.release = threading.Event()

    def __call__(self, host: str, family: int) -> list[resolve.AddrInfo]:
        self.calls.append(host)
        if host in self.hang:
            self.release.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> ScriptedLookups:
    scripted = ScriptedLookups()
    monkeypatch.setattr(resolve, "_getaddrinfo", scripted)
    yield scripted
    scripted.release.set()


async def test_many_deliveries_to_a_hanging_name_hold_one_thread_and_other_names_still_resolve(
    lookups: ScriptedLookups,
) -> None:
    resolver = Resolver(threads=2)
    lookups.hang.add("dead.example")
    stuck = [asyncio.ensure_future(resolver.lookup("dead.example")) for _ in range(50)]
    await asyncio.sleep(0.05)

    answers = await asyncio.wait_for(
        asyncio.gather(*(resolver.lookup(f"live{i}.example") for i in range(5))), timeout=5)

    assert all(a[0][4][0] == "127.0.0.1" for a in answers)
    assert lookups.calls.count("dead.example") == 1
    assert not any(task.done() for task in stuck)
    lookups.release.set()
    errors = await asyncio.gather(*stuck, return_exceptions=True)
    assert all(isinstance(e, socket.gaierror) for e in errors)


async def test_a_callers_deadline_ends_its_wait_without_cancelling_the_shared_lookup(
    lookups: ScriptedLookups,
) -> None:
    resolver = Resolver(threads=2)
    lookups.hang.add("slow.example")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(resolver.lookup("slow.example"), timeout=0.05)
    assert resolver.in_flight == 1
    waiting = asyncio.ensure_future(resolver.lookup("slow.example"))
    await asyncio.sleep(0.05)
    assert lookups.calls == ["slow.example"]  # the second caller joined the lookup under way
    lookups.release.set()
    with pytest.raises(socket.gaierror):
        await waiting
    assert resolver.in_flight == 0


async def test_answers_are_kept_briefly_and_failures_not_at_all(lookups: ScriptedLookups) -> None:
    resolver = Resolver(cache_s=60)
    await resolver.lookup("a.example")
    await resolver.lookup("a.example")
    assert lookups.calls == ["a.example"]
    expired = Resolver(cache_s=0)
    await expired.lookup("b.example")
    await expired.lookup("b.example")
    assert lookups.calls.count("b.example") == 2
    lookups.hang.add("c.example")
    lookups.release.set()
    for _ in range(2):
        with pytest.raises(socket.gaierror):
            await resolver.lookup("c.example")
    assert lookups.calls.count("c.example") == 2


async def test_the_real_lookup_resolves_localhost() -> None:
    infos = await Resolver().lookup("localhost", socket.AF_INET)
    assert {info[4][0] for info in infos} == {"127.0.0.1"}
