"""The worker's own rules, against an in-memory store and scripted attempts (no network, no database)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace

import pytest

from sidecar.domain import AttemptResult, Job, Outcome
from sidecar.ops.metrics import Metrics
from sidecar.store import RecordedAttempt, RejectedError, TransientStoreError
from sidecar.worker.hostload import HOST_DEFER_MAX_MS, HOST_DEFER_MIN_MS, HOST_WAIT_OK_S, HostLoad
from sidecar.worker.loop import LEASE_MARGIN_S, Worker, WorkerOptions, host_key
from sidecar.worker.recorder import new_log_id
from tests import fakes


def make_job(url: str = "https://a.example/hook", **changes: object) -> Job:
    job = Job(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 1, 4, "{}", url, {}, 1000, True,
              1000, 2.0, "whsec_x")
    return replace(job, **changes)  # type: ignore[arg-type]


class MemoryStore(fakes.MemoryStore):
    """The shared fake, with record calls that fail or refuse on demand."""

    def __init__(self, jobs: Sequence[Job] = (), record_failures: int = 0,
                 refuse_batches_over: int | None = None) -> None:
        super().__init__(jobs)
        self.record_failures = record_failures
        self.refuse_batches_over = refuse_batches_over
        self.calls: list[list[bool]] = []  # first_send of each result, per record call

    async def record(self, results: Sequence[AttemptResult]) -> list[RecordedAttempt]:
        self.calls.append([r.first_send for r in results])
        if self.record_failures:
            self.record_failures -= 1
            raise TransientStoreError("database unavailable: connection refused")
        if self.refuse_batches_over is not None and len(results) > self.refuse_batches_over:
            raise RejectedError("invalid input syntax")
        return await super().record(results)


class Attempts:
    """Answers 200, except for URLs told to hang until released (or forever)."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.any_started = asyncio.Event()

    def hold(self, url: str) -> asyncio.Event:
        self.gates[url] = asyncio.Event()
        return self.gates[url]

    async def attempt(self, job: Job) -> Outcome:
        self.started.append(job.webhook_url)
        self.any_started.set()
        if job.webhook_url in self.gates:
            await self.gates[job.webhook_url].wait()
        now = time.monotonic()
        return Outcome(request_headers={}, duration_ms=1, ended_at=now, status=200)


def options(**changes: object) -> WorkerOptions:
    base = WorkerOptions(worker_id="w", poll_interval_s=0.01, shutdown_grace_s=5.0, record_max_wait_s=0.001)
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_results_survive_failed_record_calls_and_are_written_once() -> None:
    jobs = [make_job() for _ in range(5)]
    store = MemoryStore(jobs, record_failures=2)

    await Worker(store, Attempts(), options()).run(once=True)  # type: ignore[arg-type]

    assert sorted(r.job.queue_id for r in store.recorded) == sorted(j.queue_id for j in jobs)


async def test_only_a_results_first_record_call_marks_it_first_send() -> None:
    # A failed call may have committed: the resend must let the database look for its log_id.
    jobs = [make_job() for _ in range(3)]
    store = MemoryStore(jobs, record_failures=1)

    await Worker(store, Attempts(), options(record_max_wait_s=0.05)).run(once=True)  # type: ignore[arg-type]

    assert store.calls == [[True, True, True], [False, False, False]]
    assert len({r.log_id for r in store.recorded}) == 3


async def test_a_batch_the_database_refuses_is_split_until_every_result_is_written() -> None:
    jobs = [make_job() for _ in range(7)]
    store = MemoryStore(jobs, refuse_batches_over=2)

    await Worker(store, Attempts(), options(record_max_wait_s=0.05)).run(once=True)  # type: ignore[arg-type]

    assert sorted(r.job.queue_id for r in store.recorded) == sorted(j.queue_id for j in jobs)


async def test_stop_releases_claimed_jobs_that_had_not_started_and_finishes_the_one_in_flight() -> None:
    first, waiting, also_waiting = (make_job("https://slow.example/hook") for _ in range(3))
    store = MemoryStore([first, waiting, also_waiting])
    attempts = Attempts()
    gate = attempts.hold("https://slow.example/hook")
    worker = Worker(store, attempts, options(per_host_concurrency=1, waiting_per_host=2))  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run())
    await attempts.any_started.wait()
    worker.stop()
    gate.set()
    summary = await running

    assert [r.job.queue_id for r in store.recorded] == [first.queue_id]
    assert sorted(store.released) == sorted([waiting.queue_id, also_waiting.queue_id])
    assert attempts.started == ["https://slow.example/hook"]
    assert (summary.attempts, summary.released, summary.cancelled) == (1, 2, 0)


async def test_attempts_outliving_the_grace_period_are_cancelled_and_released() -> None:
    stuck = make_job("https://stuck.example/hook")
    store = MemoryStore([stuck])
    attempts = Attempts()
    attempts.hold("https://stuck.example/hook")  # never released
    metrics = Metrics()
    worker = Worker(store, attempts, options(shutdown_grace_s=0.05), metrics)  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run())
    await attempts.any_started.wait()
    in_flight_before_stop = metrics.registry.get_sample_value("webhook_attempts_in_flight")
    worker.stop()
    summary = await running

    assert store.recorded == []
    assert store.released == [stuck.queue_id]
    assert summary.cancelled == 1
    assert (in_flight_before_stop, metrics.registry.get_sample_value("webhook_attempts_in_flight")) == (1, 0)


async def test_a_job_waiting_for_its_hosts_slot_does_not_hold_up_another_host() -> None:
    slow = [make_job("https://slow.example/hook") for _ in range(2)]
    other = make_job("https://other.example/hook")
    store = MemoryStore([*slow, other])
    attempts = Attempts()
    gate = attempts.hold("https://slow.example/hook")
    worker = Worker(store, attempts, options(per_host_concurrency=1))  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run(once=True))
    while other.queue_id not in {r.job.queue_id for r in store.recorded}:
        await asyncio.sleep(0.01)
    started_before_release = list(attempts.started)
    gate.set()
    await running

    assert started_before_release == ["https://slow.example/hook", "https://other.example/hook"]
    assert len(store.recorded) == 3


async def test_attempts_stop_at_the_concurrency_limit_and_claims_one_batch_ahead() -> None:
    store = MemoryStore([make_job(f"https://h{i}.example/") for i in range(20)])
    attempts = Attempts()
    gates = [attempts.hold(f"https://h{i}.example/") for i in range(20)]
    worker = Worker(store, attempts, options(concurrency=3, batch_size=4))  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run(once=True))
    while len(attempts.started) < 3:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # a worker ignoring the limits would start or claim more meanwhile
    started, held = len(attempts.started), worker.in_flight
    for gate in gates:
        gate.set()
    await running

    assert started == 3
    assert held == 3 + 4
    assert len(store.recorded) == 20


async def test_a_timeout_longer_than_the_lease_extends_that_deliverys_lease_alone_before_it_starts() -> None:
    long = make_job("https://long.example/", timeout_ms=120_000)
    short = make_job("https://short.example/")
    store = MemoryStore([long, short])

    await Worker(store, Attempts(), options(lease_seconds=60)).run(once=True)  # type: ignore[arg-type]

    assert set(store.leases) == {60}  # every claim: WEBHOOK_LEASE_SECONDS, whatever the timeouts
    assert store.extended == [([long.queue_id], 120 + 2 * int(LEASE_MARGIN_S))]
    assert store.released == []
    assert sorted(r.job.queue_id for r in store.recorded) == sorted([long.queue_id, short.queue_id])


async def test_a_delivery_whose_lease_was_lost_before_it_started_is_not_attempted_nor_released() -> None:
    long = make_job("https://long.example/", timeout_ms=120_000)
    store = MemoryStore([long])
    store.lost.add(long.queue_id)
    attempts = Attempts()

    await Worker(store, attempts, options(lease_seconds=60)).run(once=True)  # type: ignore[arg-type]

    assert (attempts.started, store.recorded, store.released) == ([], [], [])


async def test_a_saturated_hosts_backlog_is_handed_back_so_other_hosts_are_still_claimed() -> None:
    hanging = [make_job("https://hang.example/") for _ in range(40)]
    other = make_job("https://other.example/")
    store = MemoryStore([*hanging, other])
    attempts = Attempts()
    gate = attempts.hold("https://hang.example/")
    opts = options(concurrency=4, per_host_concurrency=2, batch_size=5, waiting_per_host=2)
    worker = Worker(store, attempts, opts)  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        while other.queue_id not in {r.job.queue_id for r in store.recorded}:
            await asyncio.sleep(0.01)
    held_then = worker.in_flight
    worker.stop()
    gate.set()
    await running

    assert attempts.started.count("https://hang.example/") == 2  # its slots, never more
    assert held_then <= 2 + 2  # its slots plus its waiting line
    handed_back = [i for ids, _ in store.deferred for i in ids]
    assert len(handed_back) >= 40 - 4 and set(handed_back) <= {j.queue_id for j in hanging}
    assert all(HOST_DEFER_MIN_MS <= delay <= HOST_DEFER_MAX_MS for _, delay in store.deferred)


async def test_a_busy_but_fast_host_keeps_its_deliveries_waiting_in_the_worker() -> None:
    store = MemoryStore([make_job("https://fast.example/") for _ in range(60)])
    opts = options(concurrency=4, per_host_concurrency=2, batch_size=5, waiting_per_host=1)

    await Worker(store, Attempts(), opts).run(once=True)  # type: ignore[arg-type]

    assert store.deferred == []
    assert len(store.recorded) == 60


async def test_jobs_waiting_only_for_a_runner_are_never_handed_back() -> None:
    store = MemoryStore([make_job(f"https://h{i}.example/") for i in range(30)])
    attempts = Attempts()
    gates = [attempts.hold(f"https://h{i}.example/") for i in range(30)]
    opts = options(concurrency=2, per_host_concurrency=1, batch_size=10, waiting_per_host=0)
    worker = Worker(store, attempts, opts)  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run(once=True))
    while len(attempts.started) < 2:
        await asyncio.sleep(0.01)
    for gate in gates:
        gate.set()
    await running

    assert store.deferred == []
    assert len(store.recorded) == 30


def test_a_host_is_slow_once_a_place_past_its_line_would_wait_longer_than_allowed() -> None:
    load = HostLoad(per_host=2, waiting_per_host=2)
    load.take("a", now=100.0)
    assert not load.slow("a", now=100.0)
    # place 2 (just past the line) waits for (2 // 2 + 1) attempts; this one is 0.2 s old so far
    assert load.wait_s("a", 2, now=100.2) == pytest.approx(0.4)
    assert load.slow("a", now=100.0 + HOST_WAIT_OK_S / 2 + 0.01)
    load.take("a", now=100.0)
    load.queued("a")
    load.queued("a")
    assert not load.may_wait("a", now=101.0)
    load.give_back("a", 100.0, now=100.001)
    load.give_back("a", 100.0, now=100.001)
    assert load.may_wait("a", now=101.0) and load.busy == {}


def test_the_hand_back_delay_is_the_expected_wait_of_the_last_one_within_bounds() -> None:
    load = HostLoad(per_host=2, waiting_per_host=2)
    load.take("a", now=0.0)
    load.give_back("a", 0.0, now=1.0)  # attempts take a second
    load.take("a", now=10.0)
    assert load.defer_ms("a", 4, now=10.5) == (4 // 2 + 1) * 1000
    assert load.defer_ms("a", 4, now=10.5) == (8 // 2 + 1) * 1000  # behind those handed back before
    assert load.defer_ms("a", 100, now=10.5) == HOST_DEFER_MAX_MS
    assert load.defer_ms("fast", 1, now=10.5) == HOST_DEFER_MIN_MS
    for _ in range(4):
        load.queued("a")
    assert [load.unqueued("a") for _ in range(4)] == [False, False, True, False]  # drained to half
    assert load.handed_back == {"fast": 1}


@pytest.mark.parametrize(("url", "key"), [
    ("https://API.Example.com:8443/x?y=1", "api.example.com:8443"),
    ("http://user:pw@10.0.0.1/h", "10.0.0.1:80"),
    ("https://Bücher.Example/", "xn--bcher-kva.example:443"),
    ("http://[::1]:8080/", "[::1]:8080"),
    ("http://localhost:9000/", "localhost:9000"),
    ("http://127.0.0.1:9000/", "127.0.0.1:9000"),
    ("not a url", "not a url"),
])
def test_the_per_host_limit_keys_on_the_idna_host_and_port(url: str, key: str) -> None:
    assert host_key(url) == key


def test_host_load_counts_attempts_per_host_and_forgets_idle_hosts() -> None:
    load = HostLoad(per_host=2)
    load.take("a", now=1.0)
    load.take("a", now=2.0)
    assert (load.has_room("a"), load.has_room("b")) == (False, True)
    load.give_back("a", 1.0, now=3.0)
    assert load.has_room("a") and load.attempt_s("a", now=3.0) == 2.0
    load.give_back("a", 2.0, now=3.0)
    assert load.busy == {}


def test_log_ids_are_distinct_random_version_4_uuids() -> None:
    ids = [new_log_id() for _ in range(1000)]  # crosses a refill of the random pool
    parsed = [uuid.UUID(text) for text in ids]
    assert len(set(ids)) == len(ids)
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 and str(u) == text for u, text in zip(parsed, ids))


class ReclaimingStore(MemoryStore):
    """Hands the first job out again on later claims, as the database does once its lease expired."""

    def __init__(self, job: Job) -> None:
        super().__init__([job])
        self.again = 3

    async def claim(self, worker_id: str, max_jobs: int, lease_seconds: int,
                    queue_ids: Sequence[uuid.UUID] | None = None) -> list[Job]:
        jobs = await super().claim(worker_id, max_jobs, lease_seconds, queue_ids)
        if not jobs and self.again and self.claimed:
            self.again -= 1
            return list(self.claimed.values())
        return jobs


@pytest.mark.parametrize("url, per_host", [("https://slow.example/hook", 1), ("https://slow.example/hook", 50)])
async def test_a_delivery_claimed_again_while_this_worker_holds_it_is_attempted_and_recorded_once(
    url: str, per_host: int
) -> None:
    job = make_job(url)
    store = ReclaimingStore(job)
    attempts = Attempts()
    gate = attempts.hold(url)
    worker = Worker(store, attempts, options(per_host_concurrency=per_host, poll_interval_s=0.01))  # type: ignore[arg-type]

    running = asyncio.create_task(worker.run(once=True))
    await attempts.any_started.wait()
    while store.again:  # the same delivery comes back in the claims made while it is in flight
        await asyncio.sleep(0.01)
    gate.set()
    summary = await running

    assert attempts.started == [url]
    assert [r.job.queue_id for r in store.recorded] == [job.queue_id]
    assert (summary.attempts, store.deferred, store.released) == (1, [], [])
