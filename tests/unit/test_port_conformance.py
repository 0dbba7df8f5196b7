"""Every implementation of each port has every method of the Protocol, with the same signature.

A method added to a port but missing from a store (or from the shared fake in
tests/fakes.py), or one whose parameters drifted, fails here rather than at run time.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import pytest

from sidecar.api.direct import DirectApiStore
from sidecar.api.postgrest import PostgrestApiStore
from sidecar.api.store import ApiStore
from sidecar.store import RecordSink, Store, WorkerStore
from sidecar.store.direct import DirectStore
from sidecar.store.postgrest import PostgrestStore
from tests.fakes import MemoryStore

IMPLEMENTATIONS: dict[type[Any], tuple[type[Any], ...]] = {
    RecordSink: (DirectStore, PostgrestStore, MemoryStore),
    WorkerStore: (DirectStore, PostgrestStore, MemoryStore),
    Store: (DirectStore, PostgrestStore),
    ApiStore: (DirectApiStore, PostgrestApiStore),
}
CASES = [(port, impl) for port, impls in IMPLEMENTATIONS.items() for impl in impls]


def port_methods(port: type[Any]) -> dict[str, Any]:
    """The public methods a Protocol declares, its own and those of the ports it extends."""
    methods: dict[str, Any] = {}
    for cls in reversed(port.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        methods.update((name, value) for name, value in vars(cls).items()
                       if inspect.isfunction(value) and not name.startswith("_"))
    return methods


def port_attributes(port: type[Any]) -> set[str]:
    return {name for cls in port.__mro__ if getattr(cls, "_is_protocol", False)
            for name in vars(cls).get("__annotations__", {})}


def shape(function: Any) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults of the parameters: what a caller relies on."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def mismatches(port: type[Any], impl: type[Any]) -> list[str]:
    """What `impl` lacks of `port`, or declares differently; empty when it conforms."""
    found = [f"{impl.__name__} lacks attribute {name}" for name in sorted(port_attributes(port))
             if not hasattr(impl, name)]
    for name, declared in port_methods(port).items():
        actual = getattr(impl, name, None)
        if actual is None:
            found.append(f"{impl.__name__} lacks {port.__name__}.{name}")
        elif inspect.iscoroutinefunction(actual) != inspect.iscoroutinefunction(declared):
            found.append(f"{impl.__name__}.{name}: async in one, not in the other")
        elif shape(actual) != shape(declared):
            found.append(f"{impl.__name__}.{name}{inspect.signature(actual)} is not "
                         f"{port.__name__}.{name}{inspect.signature(declared)}")
    return found


def test_each_port_declares_what_its_consumer_calls() -> None:
    assert set(port_methods(WorkerStore)) == {"claim", "record", "release", "defer", "extend_leases",
                                              "listen"}
    assert set(port_methods(RecordSink)) == {"record"}
    assert set(port_methods(WorkerStore)) < set(port_methods(Store))
    assert set(port_methods(ApiStore)) == {"call", "ping", "close"}


@pytest.mark.parametrize(("port", "impl"), CASES, ids=[f"{p.__name__}-{i.__name__}" for p, i in CASES])
def test_implementation_has_every_method_and_attribute_of_its_port(port: type[Any], impl: type[Any]) -> None:
    assert mismatches(port, impl) == []


def test_a_missing_method_a_drifted_signature_and_a_missing_attribute_are_each_caught() -> None:
    class Drifted(MemoryStore):
        async def defer(self, worker_id: str, ids: Any, delay_ms: int = 0) -> int:  # type: ignore[override]
            return 0

    class Partial:
        async def record(self, results: Any) -> list[Any]:
            return []

    assert mismatches(WorkerStore, Drifted) == [
        "Drifted.defer(self, worker_id: 'str', ids: 'Any', delay_ms: 'int' = 0) -> 'int' is not "
        "WorkerStore.defer(self, worker_id: 'str', ids: 'Sequence[UUID]', delay_ms: 'int') -> 'int'"]
    assert len(mismatches(WorkerStore, Partial)) == 5
    assert "MemoryStore lacks Store.requeue_stale" in mismatches(Store, MemoryStore)
    assert mismatches(ApiStore, Partial)[0] == "Partial lacks attribute transport"
