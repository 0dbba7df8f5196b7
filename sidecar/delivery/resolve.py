"""Name resolution for deliveries, kept apart so a name whose DNS never answers stalls only itself.

getaddrinfo blocks a thread until the system resolver gives up. On the event loop's
default executor (a few threads, shared with everything else run there) a handful of
lookups for a dead name's domain filled every thread and every other name waited behind
them. Here lookups run on a pool of their own (`THREADS`), and:

- one lookup at a time per (name, family): callers asking meanwhile share its answer, so
  a dead name ties up one thread however many deliveries wait for it;
- a caller waits no longer than its own deadline (the attempt's timer cancels it; the
  shared lookup carries on in its thread and answers whoever asks next);
- answers are kept `CACHE_S` seconds, failures not at all. Addresses come back unchecked:
  egress.CheckedResolver checks every answer, cached or not, before it is dialled.

Every (name, family) holds one thread at most, so `THREADS` dead names in flight at once
are needed before a live name waits for a thread.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

AddrInfo = tuple[int, int, int, str, tuple[object, ...]]

THREADS = 32
CACHE_S = 5.0
CACHE_MAX = 4096


class _Threads:
    """At most `size` daemon threads running blocking calls: a lookup stuck in the
    system resolver must not hold up the process's exit, as an executor's threads would."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._started = 0
        self._work: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]]]
        self._work = queue.SimpleQueue()

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._work.put((loop, future, call))
        if self._started < self._size:
            self._started += 1
            threading.Thread(target=self._serve, name="resolve", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            loop, future, call = self._work.get()
            try:
                outcome: tuple[Any, BaseException | None] = (call(), None)
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:
                pass  # that event loop has closed: nobody is waiting any more


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Resolver:
    """getaddrinfo on its own threads, one lookup in flight per name and family, answers cached briefly."""

    def __init__(self, threads: int = THREADS, cache_s: float = CACHE_S) -> None:
        self.cache_s = cache_s
        self._threads = _Threads(threads)
        self._flying: dict[tuple[str, int], asyncio.Future[list[AddrInfo]]] = {}
        self._cache: dict[tuple[str, int], tuple[float, list[AddrInfo]]] = {}

    async def lookup(self, host: str, family: int = socket.AF_UNSPEC) -> list[AddrInfo]:
        """The stream addresses of `host` (port 0: the caller sets its own), raising OSError as getaddrinfo does."""
        key = (host, family)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        flying = self._flying.get(key)
        if flying is None or flying.get_loop() is not asyncio.get_running_loop():
            flying = self._start(key)
        # Shielded: one caller's deadline must not cancel the lookup the others share.
        return await asyncio.shield(flying)

    @property
    def in_flight(self) -> int:
        """Lookups under way, one per (name, family)."""
        return len(self._flying)

    def _start(self, key: tuple[str, int]) -> asyncio.Future[list[AddrInfo]]:
        flying: asyncio.Future[list[AddrInfo]] = self._threads.submit(lambda: _getaddrinfo(*key))
        self._flying[key] = flying
        flying.add_done_callback(lambda done: self._landed(key, done))
        return flying

    def _landed(self, key: tuple[str, int], done: asyncio.Future[list[AddrInfo]]) -> None:
        if self._flying.get(key) is done:
            del self._flying[key]
        if done.cancelled() or done.exception() is not None:
            return  # failures are not kept: the next attempt asks again
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self.cache_s, done.result())


def _getaddrinfo(host: str, family: int) -> list[AddrInfo]:
    # No AI_ADDRCONFIG: on a host with only loopback it hides "localhost" entirely, and
    # every returned address is checked anyway; unreachable families just fail over.
    return socket.getaddrinfo(host, 0, family=family, type=socket.SOCK_STREAM)  # type: ignore[return-value]


default = Resolver()


async def lookup(host: str, family: int = socket.AF_UNSPEC) -> list[AddrInfo]:
    """`Resolver.lookup` on the process's one resolver."""
    return await default.lookup(host, family)
