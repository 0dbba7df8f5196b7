"""One in-memory `WorkerStore` (sidecar/store/__init__.py) for tests that need no database.

Simple semantics of the SQL functions it stands for:

    claim          due jobs (and deferred or retried ones whose time has come), oldest
                   first, up to `max_jobs`; with `queue_ids`, only those; each under a lease
    record         a result for a vanished delivery (`gone`) writes nothing (log_id None);
                   one whose lease was lost (`lost`) is logged but not applied (late);
                   otherwise applied: a retry is due again after `retry_in_ms` with the
                   next attempt number, anything else ends the delivery
    release        the claimed jobs are due again at once
    defer          the claimed jobs are due again after `delay_ms`
    extend_leases  the ids whose lease was not lost
    listen         never wakes: the worker polls

Fault-injecting fakes subclass it and call `super()`; tests/unit/test_port_conformance.py
checks it has every method of the port with the same signature.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from uuid import UUID

from sidecar.domain import AttemptResult, Job
from sidecar.store import RecordedAttempt


class MemoryStore:
    transport = "memory"

    def __init__(self, jobs: Sequence[Job] = (), gone: set[UUID] | frozenset[UUID] = frozenset()) -> None:
        self.due = list(jobs)
        self.later: list[tuple[float, Job]] = []  # due again at a monotonic time
        self.claimed: dict[UUID, Job] = {}
        self.holder: dict[UUID, str] = {}  # queue_id -> worker_id of its lease
        self.gone, self.lost = set(gone), set[UUID]()  # lost: leases another worker has taken since
        self.recorded: list[AttemptResult] = []  # applied results, in order
        self.released: list[UUID] = []
        self.leases: list[int] = []  # lease_seconds of every claim
        self.deferred: list[tuple[list[UUID], int]] = []
        self.extended: list[tuple[list[UUID], int]] = []

    async def claim(
        self, worker_id: str, max_jobs: int, lease_seconds: int, queue_ids: Sequence[UUID] | None = None
    ) -> list[Job]:
        self.leases.append(lease_seconds)
        self._promote(time.monotonic())
        wanted = [job for job in self.due if queue_ids is None or job.queue_id in queue_ids][:max_jobs]
        taken_ids = {job.queue_id for job in wanted}
        self.due = [job for job in self.due if job.queue_id not in taken_ids]
        self.claimed.update((job.queue_id, job) for job in wanted)
        self.holder.update((job.queue_id, worker_id) for job in wanted)
        return wanted

    async def record(self, results: Sequence[AttemptResult]) -> list[RecordedAttempt]:
        return [self._apply(result) for result in results]

    async def release(self, ids: Sequence[UUID]) -> int:
        self.released.extend(ids)
        self.due.extend(self._unclaim(i) for i in ids)
        return len(ids)

    async def defer(self, worker_id: str, ids: Sequence[UUID], delay_ms: int) -> int:
        self.deferred.append((list(ids), delay_ms))
        due_at = time.monotonic() + delay_ms / 1000
        self.later += [(due_at, self._unclaim(i)) for i in ids]
        return len(ids)

    async def extend_leases(self, worker_id: str, ids: Sequence[UUID], lease_seconds: int) -> list[UUID]:
        self.extended.append((list(ids), lease_seconds))
        return [i for i in ids if i not in self.lost]

    async def listen(self, wake: Callable[[], None]) -> None:
        return None

    def _apply(self, result: AttemptResult) -> RecordedAttempt:
        queue_id = result.job.queue_id
        if queue_id in self.gone:
            return RecordedAttempt(queue_id, None, False)
        log_id = uuid.uuid4() if result.log_id is None else UUID(str(result.log_id))
        if queue_id in self.lost:
            return RecordedAttempt(queue_id, log_id, False)
        self.recorded.append(result)
        job = self.claimed.pop(queue_id, result.job)
        self.holder.pop(queue_id, None)
        if result.retry_in_ms is not None:
            next_try = replace(job, attempt_number=job.attempt_number + 1)
            self.later.append((time.monotonic() + result.retry_in_ms / 1000, next_try))
        return RecordedAttempt(queue_id, log_id, True)

    def _unclaim(self, queue_id: UUID) -> Job:
        self.holder.pop(queue_id, None)
        return self.claimed[queue_id]

    def _promote(self, now: float) -> None:
        self.due += [job for at, job in self.later if at <= now]
        self.later = [(at, job) for at, job in self.later if at > now]
