"""The claim loop: claim due deliveries, attempt them with bounded concurrency, record results.

Flow of one delivery through a worker:

    claim (a batch, while fewer than `concurrency` + one batch are held)
      -> wait in claim order until one of `concurrency` runners is free and its
         target host has fewer than `per_host_concurrency` attempts under way;
         a job held up by its host lets later jobs for other hosts go first
      -> attempt (Deliverer; an Outcome value, never an exception)
      -> decision (decide.decide: success, retrying in N ms, or failed)
      -> Recorder (sidecar/recorder.py) -> record_webhook_attempts in batches

Leases. A worker claims with WEBHOOK_LEASE_SECONDS, raised to the longest `timeout_ms`
it has met plus twice LEASE_MARGIN_S, so a lease outlives the attempt it covers and no
renewal is needed. An attempt only starts while its lease still covers its whole
timeout plus the margin; a delivery that waited too long for its host slot, or came
with a timeout longer than the lease it was claimed under, is released at once
(back to pending, its place in line kept) and the next claim uses a longer lease.

Stopping (`stop()`, wired to SIGTERM/SIGINT by the CLI): claiming stops at once;
claimed deliveries that have not started are released; in-flight attempts get
`shutdown_grace_s` to finish, after which they are cancelled and released too;
every result is flushed before `run()` returns. Nothing is left `processing`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit
from uuid import UUID

from tenacity import RetryCallState

from sidecar.domain import Job, Outcome
from sidecar.events import NoEvents, WorkerEvents
from sidecar.recorder import RECORD_BATCH_SIZE, RECORD_MAX_WAIT_S, Recorder
from sidecar.decide import decide
from sidecar.retry import db_retrying
from sidecar.settings import Settings
from sidecar.store import Store, StoreError, is_transient

log = logging.getLogger("sidecar.worker")

LEASE_MARGIN_S = 5.0
DEFAULT_TIMEOUT_MS = 10_000
FINAL_FLUSH_LIMIT_S = 60.0
RETRY_WAKE_MARGIN_S = 0.02  # past the retry's due time, so the claim finds it due


class Attempter(Protocol):
    """What the worker needs from delivery.Deliverer."""

    async def attempt(self, job: Job) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    worker_id: str
    concurrency: int = 50
    per_host_concurrency: int = 20
    batch_size: int = 50
    poll_interval_s: float = 0.5
    lease_seconds: int = 60
    shutdown_grace_s: float = 20.0
    record_batch_size: int = RECORD_BATCH_SIZE
    record_max_wait_s: float = RECORD_MAX_WAIT_S

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerOptions:
        return cls(
            worker_id=settings.worker_id,
            concurrency=settings.concurrency,
            per_host_concurrency=settings.per_host_concurrency,
            batch_size=settings.batch_size,
            poll_interval_s=settings.poll_interval_ms / 1000,
            lease_seconds=settings.lease_seconds,
            shutdown_grace_s=settings.shutdown_grace_seconds,
        )


@functools.lru_cache(maxsize=4096)
def host_key(url: str) -> str:
    """The per-host limit's key: host and port, so a host's other ports share its cap."""
    try:
        parts = urlsplit(url)
        return (parts.hostname or url).lower()
    except ValueError:
        return url


async def _attempt_safely(attempter: Attempter, job: Job) -> Outcome:
    """Deliverer promises values for remote faults; a bug must still not strand the delivery."""
    started = time.monotonic()
    try:
        return await attempter.attempt(job)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed attempt instead of lost
        log.exception("attempt of delivery %s raised", job.queue_id)
        ended = time.monotonic()
        return Outcome(
            request_headers={}, duration_ms=int((ended - started) * 1000), ended_at=ended,
            error_type="network", error_message=f"request failed inside the sidecar: {exc!r}",
        )


class HostLoad:
    """Attempts under way per target host; a host is forgotten when it has none."""

    def __init__(self, per_host: int) -> None:
        self.per_host = per_host
        self.busy: dict[str, int] = {}

    def has_room(self, host: str) -> bool:
        return self.busy.get(host, 0) < self.per_host

    def take(self, host: str) -> None:
        self.busy[host] = self.busy.get(host, 0) + 1

    def give_back(self, host: str) -> None:
        left = self.busy[host] - 1
        if left:
            self.busy[host] = left
        else:
            del self.busy[host]


@dataclass(slots=True)
class _Claimed:
    job: Job
    claimed_at: float
    lease_s: int
    host: str


@dataclass(slots=True)
class RunSummary:
    attempts: int = 0
    released: int = 0
    cancelled: int = 0
    unrecorded: int = 0


@dataclass(slots=True)
class _State:
    waiting: deque[_Claimed] = field(default_factory=deque)  # claimed, not started, in claim order
    running: dict[UUID, Job] = field(default_factory=dict)  # attempts under way
    runners: set[asyncio.Task[None]] = field(default_factory=set)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    orphan_claim: asyncio.Future[list[Job]] | None = None
    longest_timeout_ms: int = DEFAULT_TIMEOUT_MS

    @property
    def held(self) -> int:
        return len(self.waiting) + len(self.running)


class Worker:
    """Delivers due webhooks until `stop()` (or, with `once`, until nothing is due or in flight)."""

    def __init__(
        self, store: Store, attempter: Attempter, options: WorkerOptions,
        events: WorkerEvents | None = None,
    ) -> None:
        self._store = store
        self._attempter = attempter
        self._opts = options
        self._events = events or NoEvents()
        self._hosts = HostLoad(options.per_host_concurrency)
        # With no more runners than one host may have, the host cap can never bind.
        self._host_capped = options.per_host_concurrency < options.concurrency
        self._recorder = Recorder(
            store, options.worker_id, self._events, options.record_batch_size, options.record_max_wait_s
        )
        self._state = _State()
        self._summary = RunSummary()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()  # room to claim, or a retry of ours came due
        self._loop_task: asyncio.Task[None] | None = None

    # -- public -------------------------------------------------------------------

    async def run(self, once: bool = False) -> RunSummary:
        recorder = asyncio.create_task(self._recorder.run())
        self._loop_task = asyncio.create_task(self._loop(once))
        try:
            await self._loop_task
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            await self._shutdown(recorder)
        return self._summary

    def stop(self) -> None:
        """Stop claiming now and shut down gracefully; safe to call from a signal handler."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_event.set()
        if self._loop_task is not None:
            self._loop_task.cancel()

    async def run_batch(self) -> int:
        """Claim one batch, attempt and record it, and return how many attempts were made.

        For one-off callers (the CLI's replay) that deliver without running the loop.
        """
        recorder = asyncio.create_task(self._recorder.run())
        try:
            await self._claim_batch()
            while self._state.runners:
                await asyncio.gather(*self._state.runners)
        finally:
            await self._shutdown(recorder)
        return self._summary.attempts

    def unrecorded_since(self) -> float | None:
        """time.monotonic() when the oldest result not yet recorded arrived (health reads it)."""
        return self._recorder.waiting_since()

    @property
    def in_flight(self) -> int:
        """Deliveries held: claimed and waiting, or being attempted."""
        return self._state.held

    def claim_lease_seconds(self) -> int:
        """WEBHOOK_LEASE_SECONDS, raised so the longest timeout met so far fits with its margin.

        Twice the margin: one for the attempt's end and its record call, one for the
        time a delivery may wait between its claim and its start.
        """
        needed = math.ceil(self._state.longest_timeout_ms / 1000 + 2 * LEASE_MARGIN_S)
        return max(self._opts.lease_seconds, needed)

    # -- the loop -----------------------------------------------------------------

    async def _loop(self, once: bool) -> None:
        while not self._stopping:
            asked, got = await self._claim_batch()
            if got and got == asked and self._room() >= self._refill_at():
                continue  # the batch was full and there is room: more may be due right now
            if once and await self._done_once():
                return
            await self._wait(once)

    def _refill_at(self) -> int:
        """Free slots worth a claim when busy: refilling one slot at a time costs a claim per delivery."""
        return max(1, min(self._opts.batch_size, self._opts.concurrency) // 2)

    def _holding_limit(self) -> int:
        """Deliveries held at once: `concurrency` attempting plus one batch claimed ahead.

        Without the batch ahead, every slot that frees up waits for a claim round trip
        before it is used again, and the HTTP pipeline runs half empty.
        """
        return self._opts.concurrency + self._opts.batch_size

    def _room(self) -> int:
        return min(self._opts.batch_size, self._holding_limit() - self._state.held)

    async def _claim_batch(self) -> tuple[int, int]:
        room = self._room()
        if room <= 0:
            return 0, 0
        claimed_at = time.monotonic()
        lease_s = self.claim_lease_seconds()
        jobs = await self._claim(room, lease_s)
        self._events.claimed(len(jobs), time.monotonic() - claimed_at)
        for job in jobs:
            self._hold(job, claimed_at, lease_s)
        self._start_runners()
        return room, len(jobs)

    async def _claim(self, room: int, lease_s: int) -> list[Job]:
        async for attempt in db_retrying(is_transient, before_sleep=self._claim_failed):
            with attempt:
                await self._recorder.caught_up()
                return await self._claim_shielded(room, lease_s)
        return []  # pragma: no cover - db_retrying reraises

    async def _claim_shielded(self, room: int, lease_s: int) -> list[Job]:
        # A claim cancelled by stop() may already have committed: keep its answer to release.
        claim = asyncio.ensure_future(self._store.claim(self._opts.worker_id, room, lease_s))
        try:
            jobs = await asyncio.shield(claim)
        except asyncio.CancelledError:
            self._state.orphan_claim = claim
            raise
        self._events.database_reachable(True)
        return jobs

    def _claim_failed(self, state: RetryCallState) -> None:
        self._recorder.database_lost()
        self._events.database_reachable(False)
        error = state.outcome.exception() if state.outcome else None
        log.warning("claiming deliveries failed (%s); retrying", error)

    async def _done_once(self) -> bool:
        """--once ends when nothing is in flight, every result is written, and a claim finds nothing."""
        if self._state.held:
            return False
        await self._recorder.drain()
        asked, got = await self._claim_batch()
        return got == 0

    async def _wait(self, once: bool) -> None:
        waits: list[Awaitable[object]] = [self._wake.wait(), self._stop_event.wait()]
        waits.append(asyncio.sleep(self._opts.poll_interval_s) if once else
                     self._store.wait_for_work(self._opts.poll_interval_s))
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        self._wake.clear()

    # -- one delivery -------------------------------------------------------------

    def _hold(self, job: Job, claimed_at: float, lease_s: int) -> None:
        self._state.waiting.append(_Claimed(job, claimed_at, lease_s, host_key(job.webhook_url)))
        self._state.longest_timeout_ms = max(self._state.longest_timeout_ms, job.timeout_ms)

    def _start_runners(self) -> None:
        """Start a runner per free slot while a waiting job may start."""
        while len(self._state.runners) < self._opts.concurrency:
            claimed = self._next_startable()
            if claimed is None:
                return
            runner = asyncio.create_task(self._run(claimed))
            self._state.runners.add(runner)
            runner.add_done_callback(self._state.runners.discard)

    def _next_startable(self) -> _Claimed | None:
        """The first waiting job whose host has room, moved from waiting to running."""
        claimed = self._take_startable()
        if claimed is not None:
            # Counted as running from here, so a claim made before its runner starts sees it held.
            self._state.running[claimed.job.queue_id] = claimed.job
        return claimed

    def _take_startable(self) -> _Claimed | None:
        waiting = self._state.waiting
        if self._stopping or not waiting:
            return None
        if not self._host_capped:
            return waiting.popleft()
        for index, claimed in enumerate(waiting):
            if self._hosts.has_room(claimed.host):
                del waiting[index]
                self._hosts.take(claimed.host)
                return claimed
        return None

    async def _run(self, claimed: _Claimed | None) -> None:
        """A runner: attempt one job, then the next startable one, until none is left.

        Keeping the task for the next job, rather than one task per delivery waiting on a
        semaphore, spares a task and a wake-up per delivery.
        """
        while claimed is not None:
            try:
                await self._deliver(claimed)
            finally:
                if self._host_capped:
                    self._hosts.give_back(claimed.host)
                self._landed()
            claimed = self._next_startable()

    async def _deliver(self, claimed: _Claimed) -> None:
        job = claimed.job
        try:
            if not self._may_start(claimed):
                self._release_later([job.queue_id])
                return
            self._events.attempt_started(job)
            try:
                outcome = await _attempt_safely(self._attempter, job)
            except asyncio.CancelledError:
                self._events.attempt_abandoned(job)
                raise
        finally:
            del self._state.running[job.queue_id]
        delay_ms = decide(job, outcome).retry_in_ms
        if delay_ms is not None:
            self._wake_after(delay_ms / 1000)
        self._events.attempt_finished(job, outcome, delay_ms)
        self._recorder.add(job, outcome, delay_ms)
        self._summary.attempts += 1

    def _wake_after(self, seconds: float) -> None:
        # The database decides when the retry is due; waking for it then, rather than at
        # the next poll, keeps retry timing within milliseconds of the formula.
        asyncio.get_running_loop().call_later(seconds + RETRY_WAKE_MARGIN_S, self._wake.set)

    def _may_start(self, claimed: _Claimed) -> bool:
        """Start only while the lease covers the whole attempt, so no one else can take it meanwhile."""
        if self._stopping:
            return False
        lease_left_s = claimed.claimed_at + claimed.lease_s - time.monotonic()
        return lease_left_s >= claimed.job.timeout_ms / 1000 + LEASE_MARGIN_S

    def _landed(self) -> None:
        # Wake the loop when room reaches a claim's worth, not at every landing: a
        # quiet worker would otherwise claim once per finished attempt.
        if self._room() == self._refill_at() or not self._state.held:
            self._wake.set()

    # -- releasing ----------------------------------------------------------------

    def _release_later(self, ids: list[UUID]) -> None:
        task = asyncio.create_task(self._release(ids))
        self._state.background.add(task)
        task.add_done_callback(self._state.background.discard)

    async def _release(self, ids: Sequence[UUID]) -> None:
        if not ids:
            return
        try:
            async for attempt in db_retrying(is_transient, give_up_after_s=FINAL_FLUSH_LIMIT_S):
                with attempt:
                    await self._store.release(ids)
        except StoreError as exc:
            # The lease still returns them to pending when it expires.
            log.warning("releasing %d deliveries failed (%s); their leases will expire", len(ids), exc)
            return
        self._summary.released += len(ids)

    # -- stopping -----------------------------------------------------------------

    async def _shutdown(self, recorder: asyncio.Task[None]) -> None:
        self._stopping = True
        await self._release_orphan_claim()
        await self._release_unstarted()
        await self._finish_in_flight()
        await self._await_background()
        await self._close_recorder(recorder)

    async def _release_orphan_claim(self) -> None:
        claim, self._state.orphan_claim = self._state.orphan_claim, None
        if claim is None:
            return
        try:
            jobs = await claim
        except StoreError:
            return  # the claim failed, so nothing was taken
        await self._release([job.queue_id for job in jobs])

    async def _release_unstarted(self) -> None:
        waiting = [claimed.job.queue_id for claimed in self._state.waiting]
        self._state.waiting.clear()
        await self._release(waiting)

    async def _finish_in_flight(self) -> None:
        runners = set(self._state.runners)
        if not runners:
            return
        _, late = await asyncio.wait(runners, timeout=self._opts.shutdown_grace_s)
        if not late:
            return
        ids = list(self._state.running)
        for runner in late:
            runner.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        self._summary.cancelled += len(ids)
        log.warning("%d attempts did not finish within the grace period; released", len(ids))
        await self._release(ids)

    async def _await_background(self) -> None:
        if self._state.background:
            await asyncio.gather(*self._state.background, return_exceptions=True)

    async def _close_recorder(self, recorder: asyncio.Task[None]) -> None:
        self._recorder.close()
        done, _ = await asyncio.wait([recorder], timeout=FINAL_FLUSH_LIMIT_S)
        if not done:
            recorder.cancel()
            self._summary.unrecorded = self._recorder.pending
            log.error("%d results could not be recorded before exit", self._summary.unrecorded)
