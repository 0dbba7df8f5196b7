"""The recorder against an in-memory sink: vanished deliveries, poison results, outages, health."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Sequence
from uuid import UUID

import pytest

from sidecar.domain import AttemptResult, Outcome
from sidecar.ops.metrics import Metrics
from sidecar.store import (
    MissingFunctionError,
    RecordedAttempt,
    RejectedError,
    TransientStoreError,
    recorded_from_row,
)
from sidecar.worker import recorder as recorder_module
from sidecar.worker.decide import Decision
from sidecar.worker.recorder import MAX_REFUSALS, Recorder
from tests.fakes import MemoryStore
from tests.unit.test_worker import make_job

RETRY = Decision("retrying", 1000)


class Sink(MemoryStore):
    """The shared fake, refusing any call that holds a poison delivery or failing the first calls."""

    def __init__(self, poison: set[UUID] = frozenset(), gone: set[UUID] = frozenset(),  # type: ignore[assignment]
                 failures: int = 0, error: Exception | None = None) -> None:
        super().__init__(gone=gone)
        self.poison = set(poison)
        self.failures, self.error = failures, error
        self.written: list[tuple[float, UUID]] = []
        self.calls = 0

    async def record(self, results: Sequence[AttemptResult]) -> list[RecordedAttempt]:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise self.error or TransientStoreError("database unavailable: connection refused")
        if any(r.job.queue_id in self.poison for r in results):
            raise RejectedError('interval out of range')
        rows = await super().record(results)
        self.written += [(time.monotonic(), row.queue_id) for row in rows if row.applied]
        return rows


def outcome() -> Outcome:
    return Outcome(request_headers={}, duration_ms=1, ended_at=time.monotonic(), status=500,
                   error_type="http_error", error_message="HTTP 500: Internal Server Error")


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_module, "REFUSAL_BACKOFF_S", (0.05, 0.05, 0.05, 0.05))
    monkeypatch.setattr(recorder_module, "db_retrying",
                        functools.partial(recorder_module.db_retrying, initial_s=0.001, max_wait_s=0.01))


async def run_until_drained(recorder: Recorder) -> None:
    task = asyncio.create_task(recorder.run())
    await asyncio.wait_for(recorder.drain(), 10)
    recorder.close()
    await asyncio.wait_for(task, 10)


def test_a_row_without_log_id_parses_as_nothing_written() -> None:
    queue_id = uuid.uuid4()
    row = recorded_from_row({"queue_id": str(queue_id), "log_id": None, "applied": False})
    assert (row.queue_id, row.log_id, row.applied) == (queue_id, None, False)


async def test_a_result_for_a_vanished_delivery_is_dropped_and_counted_and_the_rest_recorded() -> None:
    jobs = [make_job() for _ in range(4)]
    sink = Sink(gone={jobs[1].queue_id})
    metrics = Metrics()
    recorder = Recorder(sink, "w", metrics, batch_size=10, max_wait_s=0.01)
    for job in jobs:
        recorder.add(job, outcome(), RETRY)

    await run_until_drained(recorder)

    assert [q for _, q in sink.written] == [j.queue_id for j in jobs if j is not jobs[1]]
    assert sink.calls == 1  # nothing retried
    assert metrics.registry.get_sample_value("webhook_results_dropped_total", {"reason": "delivery_gone"}) == 1
    assert (recorder.recorded_count, recorder.dropped_count, recorder.pending) == (3, 1, 0)


async def test_a_poison_result_is_set_aside_and_dropped_after_bounded_tries_without_holding_up_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    poison, *others = [make_job() for _ in range(5)]
    later = make_job()
    sink = Sink(poison={poison.queue_id})
    metrics = Metrics()
    recorder = Recorder(sink, "w", metrics, batch_size=10, max_wait_s=0.01)
    task = asyncio.create_task(recorder.run())
    for job in (poison, *others):
        recorder.add(job, outcome(), RETRY)
    while len(sink.written) < len(others):
        await asyncio.sleep(0.005)
    recorder.add(later, outcome(), RETRY)  # arrives while the poison is set aside
    while later.queue_id not in {q for _, q in sink.written}:
        await asyncio.sleep(0.005)
    poison_still_waiting = recorder.pending
    await asyncio.wait_for(recorder.drain(), 10)
    recorder.close()
    await asyncio.wait_for(task, 10)

    assert poison_still_waiting == 1
    assert {q for _, q in sink.written} == {j.queue_id for j in (*others, later)}
    assert metrics.registry.get_sample_value("webhook_results_dropped_total", {"reason": "refused"}) == 1
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and str(poison.queue_id) in dropped[0].getMessage()
    assert "interval out of range" in dropped[0].getMessage()
    assert f"{MAX_REFUSALS} times" in dropped[0].getMessage()


async def test_an_outage_keeps_every_result_until_the_database_is_back() -> None:
    jobs = [make_job() for _ in range(3)]
    sink = Sink(failures=3)
    recorder = Recorder(sink, "w", Metrics(), batch_size=10, max_wait_s=0.01)
    for job in jobs:
        recorder.add(job, outcome(), RETRY)

    await run_until_drained(recorder)

    assert sorted(q for _, q in sink.written) == sorted(j.queue_id for j in jobs)
    assert recorder.dropped_count == 0


async def test_a_missing_record_function_is_retried_like_an_outage_not_dropped() -> None:
    jobs = [make_job() for _ in range(2)]
    sink = Sink(failures=MAX_REFUSALS + 2, error=MissingFunctionError("function does not exist"))
    recorder = Recorder(sink, "w", Metrics(), batch_size=10, max_wait_s=0.01)
    for job in jobs:
        recorder.add(job, outcome(), RETRY)

    await run_until_drained(recorder)

    assert sorted(q for _, q in sink.written) == sorted(j.queue_id for j in jobs)
    assert recorder.dropped_count == 0


async def test_a_full_batch_is_written_without_waiting_for_the_deadline() -> None:
    jobs = [make_job() for _ in range(5)]
    sink = Sink()
    recorder = Recorder(sink, "w", Metrics(), batch_size=5, max_wait_s=30.0)
    for job in jobs:
        recorder.add(job, outcome(), RETRY)

    await run_until_drained(recorder)  # would take 30 s if the full batch waited for its deadline

    assert sink.calls == 1 and len(sink.written) == 5


def test_health_fails_when_a_result_has_waited_unrecorded_past_the_limit() -> None:
    now = [1000.0]
    metrics = Metrics(unreachable_limit_s=60, clock=lambda: now[0])
    waiting: list[float | None] = [None]
    metrics.watch_unrecorded(lambda: waiting[0])
    assert metrics.health().ok
    waiting[0] = 950.0
    assert metrics.health().ok
    waiting[0] = 930.0
    health = metrics.health()
    assert (health.ok, health.reason) == (False, "results unrecorded for 70 s (limit 60 s)")
