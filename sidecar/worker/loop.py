"""The claim loop: claim due deliveries, attempt them with bounded concurrency, record results.

Flow of one delivery through a worker:

    claim (a batch, while fewer than `concurrency` + one batch are held)
      -> wait in claim order until one of `concurrency` runners is free and its
         target host has fewer than `per_host_concurrency` attempts under way;
         a job held up by its host lets later jobs for other hosts go first
      -> (lease extended, if its own timeout needs a longer one)
      -> attempt (Deliverer; an Outcome value, never an exception)
      -> decision (decide.decide: success, retrying in N ms, or failed)
      -> Recorder (sidecar/worker/recorder.py) -> record_webhook_attempts in batches, which
         applies the decision or refuses it; the attempt line and metrics report the
         status it wrote (WorkerEvents.attempt_recorded)

Isolation between tenants. Deliveries waiting for a busy host hold claim room that
other tenants' work needs, so a slow host may keep only its `per_host_concurrency`
slots plus `waiting_per_host` deliveries waiting (default: as many as its slots, enough
to refill them at once). What a slow host has beyond that, whether just claimed or
waiting since a claim when the host still looked fast, is handed back with
defer_webhook_jobs, due when the host is expected to have a slot for it
(sidecar/worker/hostload.py has the estimate and its bounds). Handed-back work is behind
everything already due, so the next claims, made at once while batches come back full,
pass the backlog and reach other tenants' deliveries. A fast host is never handed back:
its deliveries wait here as before. `host_key` is the lowercased IDNA host name and
port; a name and its address count as two hosts, as nothing is resolved to decide.
Name resolution has threads of its own (sidecar/delivery/resolve.py). The bench scenario
bench/scenarios/isolation.py measures all of it. Limit: a hanging host still holds its
slots' runners, so `concurrency` must exceed `per_host_concurrency` times the number
of hosts that hang at once for the others to keep flowing.

Leases. A worker claims with WEBHOOK_LEASE_SECONDS. An attempt starts only while its
lease covers its whole timeout plus LEASE_MARGIN_S; when it does not (a long
`timeout_ms`, or a long wait for its host slot) the lease of that delivery alone is
extended with extend_webhook_leases right before it starts, to its timeout plus twice
the margin. One rule's long timeout so never lengthens the leases of other deliveries,
and a crashed worker's other deliveries come back after WEBHOOK_LEASE_SECONDS. A
delivery whose lease was already lost is not attempted (another worker may hold it).

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
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from tenacity import RetryCallState
from yarl import URL

from sidecar.domain import Job, Outcome
from sidecar.events import NoEvents, WorkerEvents
from sidecar.retry import db_retrying
from sidecar.settings import Settings
from sidecar.store import StoreError, WorkerStore, is_transient
from sidecar.worker.decide import decide
from sidecar.worker.lines import Claimed, Lines
from sidecar.worker.recorder import RECORD_BATCH_SIZE, RECORD_MAX_WAIT_S, Recorder

log = logging.getLogger("sidecar.worker")

LEASE_MARGIN_S = 5.0
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
    waiting_per_host: int | None = None  # None: per_host_concurrency
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
    """The per-host limit's key: `host:port`, the host lowercased and IDNA-encoded, the port
    explicit or the scheme's default. Nothing is resolved: `localhost` and `127.0.0.1` are
    two hosts, like two names of one server, and each port of a host is a host of its own."""
    try:
        parsed = URL(url)
        host = parsed.raw_host
    except (ValueError, UnicodeError):
        return url
    if not host:
        return url
    shown = f"[{host}]" if ":" in host else host
    return f"{shown.lower()}:{parsed.port}" if parsed.port is not None else shown.lower()


def _raised(job: Job, exc: Exception, started: float) -> Outcome:
    """Deliverer promises values for remote faults; a bug must still not strand the delivery:
    the attempt is recorded as failed instead of lost."""
    log.exception("attempt of delivery %s raised", job.queue_id)
    ended = time.monotonic()
    return Outcome(
        request_headers={}, duration_ms=int((ended - started) * 1000), ended_at=ended,
        error_type="network", error_message=f"request failed inside the sidecar: {exc!r}",
    )




@dataclass(slots=True)
class RunSummary:
    attempts: int = 0
    released: int = 0
    cancelled: int = 0
    unrecorded: int = 0
    deferred: int = 0


@dataclass(slots=True)
class _State:
    running: dict[UUID, Job] = field(default_factory=dict)  # attempts under way
    runners: set[asyncio.Task[None]] = field(default_factory=set)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    orphan_claim: asyncio.Future[list[Job]] | None = None
    handed_back_until: float = 0.0  # monotonic time the last handed-back delivery comes due
    deferring: int = 0  # hand-back calls not answered yet: their rows' due time is not known



class Worker:
    """Delivers due webhooks until `stop()` (or, with `once`, until nothing is due or in flight)."""

    def __init__(
        self, store: WorkerStore, attempter: Attempter, options: WorkerOptions,
        events: WorkerEvents | None = None,
    ) -> None:
        self._store = store
        self._attempter = attempter
        self._opts = options
        self._events = events or NoEvents()
        self._recorder = Recorder(
            store, options.worker_id, self._events, options.record_batch_size, options.record_max_wait_s
        )
        self._state = _State()
        self._summary = RunSummary()
        # The one stop signal: set by stop() or by shutdown; the loop is cancelled where it waits.
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # room to claim, or a retry of ours came due
        # Claimed deliveries not yet started, in claim order, and the per-host load.
        self._lines = Lines(options.concurrency, options.per_host_concurrency, options.waiting_per_host,
                            on_short_line=self._wake.set)
        self._claim_ids: list[UUID] | None = None  # run_batch's filter; the loop claims anything due

    # -- public -------------------------------------------------------------------

    async def run(self, once: bool = False) -> RunSummary:
        recorder = asyncio.create_task(self._recorder.run())
        try:
            await self._until_stopped(self._loop(once))
        finally:
            await self._shutdown(recorder)
        return self._summary

    def stop(self) -> None:
        """Stop claiming now and shut down gracefully; safe to call from a signal handler."""
        self._stop.set()

    async def run_batch(self, queue_ids: Sequence[UUID] | None = None) -> int:
        """Claim one batch, attempt and record it, and return how many attempts were made.

        For one-off callers (the CLI's replay and test) that deliver without running the
        loop; with `queue_ids` only those deliveries are claimed.
        """
        self._claim_ids = None if queue_ids is None else list(queue_ids)
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
        return self._held()

    def _held(self) -> int:
        return len(self._lines) + len(self._state.running)

    def claim_lease_seconds(self) -> int:
        """WEBHOOK_LEASE_SECONDS: a longer timeout extends its own delivery's lease, not every claim's."""
        return self._opts.lease_seconds

    def start_lease_seconds(self, job: Job) -> int:
        """The lease an attempt of `job` needs from its start: its timeout plus twice the margin.

        Twice: one for the attempt's end and its record call, one to spare.
        """
        return max(self._opts.lease_seconds, math.ceil(job.timeout_ms / 1000 + 2 * LEASE_MARGIN_S))

    # -- the loop -----------------------------------------------------------------

    async def _until_stopped(self, work: Coroutine[object, object, None]) -> None:
        """Run `work` until it ends or the stop signal fires; a stop cancels it wherever it waits."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            stopped.cancel()
        task.cancel()  # a no-op once it has ended
        try:
            await task
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise

    async def _loop(self, once: bool) -> None:
        while not self._stop.is_set():
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
        return min(self._opts.batch_size, self._holding_limit() - self._held())

    async def _claim_batch(self) -> tuple[int, int]:
        self._trim_slow_lines()
        room = self._room()
        if room <= 0:
            return 0, 0
        claimed_at = time.monotonic()
        lease_s = self.claim_lease_seconds()
        jobs = self._not_held(await self._claim(room, lease_s))
        self._events.claimed(len(jobs), time.monotonic() - claimed_at)
        excess = [job for job in jobs if not self._hold(job, claimed_at, lease_s)]
        self._start_runners()
        # A full batch counts as full even when handed back: the claims right after it pass
        # the slow host's backlog (deferred now) and reach other tenants' work.
        self._hand_back([(host_key(job.webhook_url), job.queue_id) for job in excess])
        return room, len(jobs)

    def _not_held(self, jobs: list[Job]) -> list[Job]:
        """Leave out deliveries this worker already holds.

        A lease can expire while its delivery waits or is attempted here (a database
        outage longer than the lease); the claim then hands it to the same worker id
        again. The attempt under way (or to come) settles it: its result is recorded
        under the new lease, so the second claim must neither start a second attempt
        nor be handed back.
        """
        held = {job.queue_id for job in jobs if job.queue_id in self._state.running or job.queue_id in self._lines}
        if not held:
            return jobs
        log.info("%d claimed deliveries are already held by this worker (their leases expired); left as they are",
                 len(held))
        return [job for job in jobs if job.queue_id not in held]

    async def _claim(self, room: int, lease_s: int) -> list[Job]:
        async for attempt in db_retrying(is_transient, before_sleep=self._claim_failed):
            with attempt:
                await self._recorder.caught_up()
                return await self._claim_shielded(room, lease_s)
        return []  # pragma: no cover - db_retrying reraises

    async def _claim_shielded(self, room: int, lease_s: int) -> list[Job]:
        # A claim cancelled by stop() may already have committed: keep its answer to release.
        claim = asyncio.ensure_future(self._store.claim(self._opts.worker_id, room, lease_s, self._claim_ids))
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
        """--once ends when nothing is in flight, nothing it handed back is still to come due,
        every result is written, and a claim finds nothing."""
        if self._held() or self._state.deferring or self._state.handed_back_until > time.monotonic():
            return False
        await self._recorder.drain()
        asked, got = await self._claim_batch()
        return got == 0

    async def _wait(self, once: bool) -> None:
        """Until the one wake-up event (room, a retry due, the database's announcement) or the poll timer."""
        if not once:  # --once only looks at what is due: new leads are not its business
            await self._store.listen(self._wake.set)
        try:
            async with asyncio.timeout(self._opts.poll_interval_s):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    # -- one delivery -------------------------------------------------------------

    def _hold(self, job: Job, claimed_at: float, lease_s: int) -> bool:
        return self._lines.hold(job, host_key(job.webhook_url), claimed_at, lease_s)

    def _trim_slow_lines(self) -> None:
        """Hand back what slow hosts hold waiting beyond their line."""
        self._hand_back(self._lines.trim_slow(time.monotonic()))

    def _hand_back(self, excess: list[tuple[str, UUID]]) -> None:
        """Defer what slow hosts cannot start soon, one call per host (each its own delay)."""
        by_host: dict[str, list[UUID]] = {}
        for host, queue_id in excess:
            by_host.setdefault(host, []).append(queue_id)
        now = time.monotonic()
        for host, ids in by_host.items():
            delay_ms = self._lines.hosts.defer_ms(host, len(ids), now)
            self._state.handed_back_until = max(self._state.handed_back_until, now + delay_ms / 1000)
            self._background(self._defer(ids, delay_ms))

    async def _defer(self, ids: list[UUID], delay_ms: int) -> None:
        self._state.deferring += 1
        try:
            async for attempt in db_retrying(is_transient, give_up_after_s=FINAL_FLUSH_LIMIT_S):
                with attempt:
                    await self._store.defer(self._opts.worker_id, ids, delay_ms)
        except StoreError as exc:
            log.warning("handing back %d deliveries failed (%s); their leases will expire", len(ids), exc)
            return
        finally:
            self._state.deferring -= 1
        # The database counted the delay from its now(), at or before this reply: from
        # here, the rows are due by then, so --once waits that long before it may end.
        due_by = time.monotonic() + delay_ms / 1000 + RETRY_WAKE_MARGIN_S
        self._state.handed_back_until = max(self._state.handed_back_until, due_by)
        self._summary.deferred += len(ids)

    def _start_runners(self) -> None:
        """Start a runner per free slot while a waiting job may start."""
        while len(self._state.runners) < self._opts.concurrency:
            claimed = self._next_startable()
            if claimed is None:
                return
            runner = asyncio.create_task(self._run(claimed))
            self._state.runners.add(runner)
            runner.add_done_callback(self._state.runners.discard)

    def _next_startable(self) -> Claimed | None:
        """The first waiting job whose host has room, moved from waiting to running."""
        claimed = None if self._stop.is_set() else self._lines.take_startable()
        if claimed is not None:
            # Counted as running from here, so a claim made before its runner starts sees it held.
            self._state.running[claimed.job.queue_id] = claimed.job
        return claimed

    async def _run(self, claimed: Claimed | None) -> None:
        """A runner: attempt one job, then the next startable one, until none is left.

        Keeping the task for the next job, rather than one task per delivery waiting on a
        semaphore, spares a task and a wake-up per delivery.
        """
        while claimed is not None:
            try:
                await self._deliver(claimed)
            finally:
                self._lines.finished(claimed)
                self._landed()
            claimed = self._next_startable()

    async def _deliver(self, claimed: Claimed) -> None:
        job = claimed.job
        try:
            if not await self._ready(claimed):
                return
            self._events.attempt_started(job)
            started = time.monotonic()
            try:
                outcome = await self._attempter.attempt(job)  # awaited here: no coroutine of its own per attempt
            except asyncio.CancelledError:
                self._events.attempt_abandoned(job)
                raise
            except Exception as exc:  # noqa: BLE001 - see _raised
                outcome = _raised(job, exc, started)
        finally:
            del self._state.running[job.queue_id]
        decision = decide(job, outcome)
        if decision.retry_in_ms is not None:
            self._wake_after(decision.retry_in_ms / 1000)
        self._events.attempt_finished(job, outcome)
        self._recorder.add(job, outcome, decision)
        self._summary.attempts += 1

    def _wake_after(self, seconds: float) -> None:
        # The database decides when the retry is due; waking for it then, rather than at
        # the next poll, keeps retry timing within milliseconds of the formula.
        asyncio.get_running_loop().call_later(seconds + RETRY_WAKE_MARGIN_S, self._wake.set)

    async def _ready(self, claimed: Claimed) -> bool:
        """Whether to attempt now: not stopping, and the lease covers the whole attempt (extended if need be)."""
        if self._stop.is_set():
            self._release_later([claimed.job.queue_id])
            return False
        if self._lease_covers(claimed):
            return True
        return await self._extend_lease(claimed)

    def _lease_covers(self, claimed: Claimed) -> bool:
        lease_left_s = claimed.claimed_at + claimed.lease_s - time.monotonic()
        return lease_left_s >= claimed.job.timeout_ms / 1000 + LEASE_MARGIN_S

    async def _extend_lease(self, claimed: Claimed) -> bool:
        """Lengthen this delivery's lease alone; False when it was lost (not ours to attempt) or the call failed."""
        job = claimed.job
        lease_s = self.start_lease_seconds(job)
        asked_at = time.monotonic()
        try:
            extended = await self._store.extend_leases(self._opts.worker_id, [job.queue_id], lease_s)
        except StoreError as exc:
            log.warning("extending the lease of delivery %s failed (%s); released", job.queue_id, exc)
            self._release_later([job.queue_id])
            return False
        if job.queue_id not in extended:
            log.warning("the lease of delivery %s expired before its attempt; left to its next claim", job.queue_id)
            return False
        claimed.claimed_at, claimed.lease_s = asked_at, lease_s
        return True

    def _landed(self) -> None:
        # Wake the loop when room reaches a claim's worth, not at every landing: a
        # quiet worker would otherwise claim once per finished attempt.
        if self._room() == self._refill_at() or not self._held():
            self._wake.set()

    # -- releasing ----------------------------------------------------------------

    def _release_later(self, ids: list[UUID]) -> None:
        self._background(self._release(ids))

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
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
        self._stop.set()
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
        await self._release(self._lines.clear())

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
