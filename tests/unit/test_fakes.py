"""The shared in-memory store behaves like the SQL functions it stands for, in the ways tests rely on."""

from __future__ import annotations

import time

from sidecar.domain import AttemptResult, Outcome
from tests.fakes import MemoryStore
from tests.unit.test_worker import make_job


def result(job: object, retry_in_ms: int | None, worker_id: str = "w") -> AttemptResult:
    outcome = Outcome(request_headers={}, duration_ms=1, ended_at=time.monotonic(), status=200)
    return AttemptResult(job, worker_id, outcome, retry_in_ms)  # type: ignore[arg-type]


async def test_claim_takes_due_jobs_in_order_and_only_the_ids_asked_for() -> None:
    jobs = [make_job() for _ in range(4)]
    store = MemoryStore(jobs)

    assert await store.claim("w", 10, 30, [jobs[2].queue_id]) == [jobs[2]]
    assert await store.claim("w", 2, 30) == jobs[:2]
    assert store.leases == [30, 30] and store.holder[jobs[0].queue_id] == "w"


async def test_a_retry_comes_back_with_the_next_attempt_and_a_success_ends_the_delivery() -> None:
    retried, done = make_job(), make_job()
    store = MemoryStore([retried, done])
    await store.claim("w", 10, 30)

    rows = await store.record([result(retried, 0), result(done, None)])

    assert [row.applied for row in rows] == [True, True]
    again = await store.claim("w", 10, 30)
    assert [(j.queue_id, j.attempt_number) for j in again] == [(retried.queue_id, 2)]


async def test_a_vanished_delivery_writes_nothing_and_a_lost_lease_is_logged_but_not_applied() -> None:
    gone, lost = make_job(), make_job()
    store = MemoryStore([lost], gone={gone.queue_id})
    await store.claim("w", 10, 30)
    store.lost.add(lost.queue_id)

    vanished, late = await store.record([result(gone, None), result(lost, None)])

    assert (vanished.log_id, vanished.applied) == (None, False)
    assert late.log_id is not None and not late.applied
    assert store.recorded == [] and await store.extend_leases("w", [lost.queue_id], 60) == []


async def test_release_makes_jobs_due_at_once_and_defer_after_the_delay() -> None:
    released, deferred = make_job(), make_job()
    store = MemoryStore([released, deferred])
    await store.claim("w", 10, 30)

    await store.release([released.queue_id])
    await store.defer("w", [deferred.queue_id], 60_000)

    assert await store.claim("w", 10, 30) == [released]
    assert store.deferred == [([deferred.queue_id], 60_000)]
