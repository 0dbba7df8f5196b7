"""Per-host load in one worker: attempts under way, deliveries waiting, and how slow each host is.

The worker (sidecar/worker/loop.py) asks two things of it. May a newly claimed delivery wait
for its host here? Yes while the host's slots and waiting line (`waiting_per_host`) have
room, and also beyond that while the host is fast: its expected wait,

    wait(p) = (p // per_host + 1) * attempt_s        p: the place in the host's line
    attempt_s = max(mean attempt duration (EWMA), age of its oldest attempt under way)

for a place just past the line is at most HOST_WAIT_OK_S, so a busy but fast host keeps
its slots full. If not, for how long to hand it back: wait(p) for its place, counting the
deliveries already handed back since the line last drained to half, between
HOST_DEFER_MIN_MS and HOST_DEFER_MAX_MS. A hanging endpoint has no finished attempts, but
the age of its oldest one grows, so its backlog goes back for longer and longer.
"""

from __future__ import annotations

import time
from collections import deque

HOST_WAIT_OK_S = 0.25
HOST_DEFER_MIN_MS = 250
HOST_DEFER_MAX_MS = 16_000
EWMA_WEIGHT = 0.2  # of the newest attempt
HOSTS_REMEMBERED = 4096


def _count_down(counts: dict[str, int], host: str) -> int:
    left = counts[host] - 1
    if left:
        counts[host] = left
    else:
        del counts[host]
    return left


class HostLoad:
    """Attempts under way and deliveries waiting, per target host; a host with neither is forgotten
    (its mean attempt duration is kept, for up to HOSTS_REMEMBERED hosts)."""

    def __init__(self, per_host: int, waiting_per_host: int | None = None) -> None:
        self.per_host = per_host
        self.waiting_per_host = per_host if waiting_per_host is None else waiting_per_host
        self.busy: dict[str, deque[float]] = {}  # start times of the attempts under way
        self.waiting: dict[str, int] = {}
        self.handed_back: dict[str, int] = {}  # since the host's line last drained to half
        self.mean_s: dict[str, float] = {}

    def has_room(self, host: str) -> bool:
        return len(self.busy.get(host, ())) < self.per_host

    def may_wait(self, host: str, now: float | None = None) -> bool:
        """A newly claimed delivery may wait here: its host's slots and line have room, or it is fast."""
        held = len(self.busy.get(host, ())) + self.waiting.get(host, 0)
        return held < self.per_host + self.waiting_per_host or not self.slow(host, now)

    def slow(self, host: str, now: float | None = None) -> bool:
        """Whether a delivery just past the host's line would wait longer than HOST_WAIT_OK_S."""
        return self.wait_s(host, self.waiting_per_host, now) > HOST_WAIT_OK_S

    def wait_s(self, host: str, place: int, now: float | None = None) -> float:
        return (place // max(1, self.per_host) + 1) * self.attempt_s(host, now)

    def attempt_s(self, host: str, now: float | None = None) -> float:
        started = self.busy.get(host)
        oldest = (time.monotonic() if now is None else now) - started[0] if started else 0.0
        return max(self.mean_s.get(host, 0.0), oldest)

    def queued(self, host: str) -> None:
        self.waiting[host] = self.waiting.get(host, 0) + 1

    def unqueued(self, host: str) -> bool:
        """One delivery of `host` left the waiting line; True when more of it should be claimed."""
        left = _count_down(self.waiting, host)
        if host in self.handed_back and left <= self.waiting_per_host // 2:
            del self.handed_back[host]
            return True
        return False

    def defer_ms(self, host: str, count: int, now: float | None = None) -> int:
        """How long to hand back `count` deliveries of `host`: the expected wait of the last of them."""
        place = self.waiting.get(host, 0) + self.handed_back.get(host, 0) + count
        self.handed_back[host] = self.handed_back.get(host, 0) + count
        wait_ms = self.wait_s(host, place, now) * 1000
        return int(min(HOST_DEFER_MAX_MS, max(HOST_DEFER_MIN_MS, wait_ms)))

    def take(self, host: str, now: float) -> None:
        self.busy.setdefault(host, deque()).append(now)

    def give_back(self, host: str, started_at: float, now: float) -> None:
        started = self.busy[host]
        started.remove(started_at)
        if not started:
            del self.busy[host]
        self._learn(host, now - started_at)

    def _learn(self, host: str, duration_s: float) -> None:
        if host not in self.mean_s and len(self.mean_s) >= HOSTS_REMEMBERED:
            self.mean_s.clear()
        previous = self.mean_s.get(host)
        self.mean_s[host] = duration_s if previous is None else previous + EWMA_WEIGHT * (duration_s - previous)
