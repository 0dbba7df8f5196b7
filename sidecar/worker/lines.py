"""Claimed deliveries waiting for a runner, in claim order: which one may start next.

Without a per-host cap that binds (`per_host_concurrency` >= `concurrency`) the line
is first come, first served. With one, a delivery starts only while its host has a
free slot, so a delivery held up by its host lets later ones for other hosts go
first; how long a slow host's excess should be handed back is HostLoad's estimate
(sidecar/worker/hostload.py). Nothing here does I/O: the worker acts on the answers.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from sidecar.domain import Job
from sidecar.worker.hostload import HostLoad


@dataclass(slots=True)
class Claimed:
    job: Job
    claimed_at: float
    lease_s: int
    host: str
    started_at: float = 0.0


class Lines:
    """The waiting deliveries and the per-host load they are started against."""

    def __init__(self, concurrency: int, per_host: int, waiting_per_host: int | None,
                 on_short_line: Callable[[], None]) -> None:
        self.hosts = HostLoad(per_host, waiting_per_host)
        # With no more runners than one host may have, the host cap can never bind.
        self.capped = per_host < concurrency
        self._waiting: deque[Claimed] = deque()
        self._ids: set[UUID] = set()
        self._on_short_line = on_short_line

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, queue_id: UUID) -> bool:
        return queue_id in self._ids

    def hold(self, job: Job, host: str, claimed_at: float, lease_s: int) -> bool:
        """Queue a claimed job to wait for a runner; False (not held) when its host's line is full."""
        if self.capped:
            if not self.hosts.may_wait(host, claimed_at):
                return False
            self.hosts.queued(host)
        self._waiting.append(Claimed(job, claimed_at, lease_s, host))
        self._ids.add(job.queue_id)
        return True

    def trim_slow(self, now: float) -> list[tuple[str, UUID]]:
        """Take out, newest first, what slow hosts hold waiting beyond their line: (host, queue id) to hand back."""
        if not self.capped:
            return []
        limit = self.hosts.waiting_per_host
        over = {host: count - limit for host, count in self.hosts.waiting.items()
                if count > limit and self.hosts.slow(host, now)}
        if not over:
            return []
        kept: deque[Claimed] = deque()
        excess: list[tuple[str, UUID]] = []
        for claimed in reversed(self._waiting):
            if over.get(claimed.host, 0) > 0:
                over[claimed.host] -= 1
                self.hosts.unqueued(claimed.host)
                self._ids.discard(claimed.job.queue_id)
                excess.append((claimed.host, claimed.job.queue_id))
            else:
                kept.appendleft(claimed)
        self._waiting = kept
        return excess

    def take_startable(self) -> Claimed | None:
        """The first waiting job whose host has room, out of the line and counted as under way."""
        waiting = self._waiting
        if not waiting:
            return None
        if not self.capped:
            first = waiting.popleft()
            self._ids.discard(first.job.queue_id)
            return first
        for index, claimed in enumerate(waiting):
            if self.hosts.has_room(claimed.host):
                del waiting[index]
                self._ids.discard(claimed.job.queue_id)
                claimed.started_at = time.monotonic()
                self.hosts.take(claimed.host, claimed.started_at)
                if self.hosts.unqueued(claimed.host):
                    self._on_short_line()  # its line is short again: claim more of the work handed back
                return claimed
        return None

    def finished(self, claimed: Claimed) -> None:
        """An attempt taken from here has ended (or was not made): its host slot is free."""
        if self.capped:
            self.hosts.give_back(claimed.host, claimed.started_at, time.monotonic())

    def clear(self) -> list[UUID]:
        """Empty the line (shutdown); the queue ids it held, to release."""
        ids = [claimed.job.queue_id for claimed in self._waiting]
        self._waiting.clear()
        self._ids.clear()
        self.hosts.waiting.clear()
        return ids
