"""Batched writes of finished attempts: record_webhook_attempts behind a one-method sink.

A batch is written when `batch_size` results wait or `max_wait_s` has passed since the
first arrived. Transient failures (the database away) are retried with backoff, the
batch kept, for as long as it takes. A batch the database refuses is split until the
refused result stands alone; that result is set aside and tried again alone, later,
while the others keep flowing; after MAX_REFUSALS refusals it is dropped with an error
line and `webhook_results_dropped_total{reason="refused"}`. A result whose delivery no
longer exists (its lead, rule or funnel was deleted while it was in flight) comes back
with no log id: the database wrote nothing for it, and it is counted as dropped
(`reason="delivery_gone"`). A refusal that says the record function itself is missing
is not the result's fault: such results are kept and retried like an outage.

Each result carries the worker's Decision (sidecar/worker/decide.py); the database applies
it or refuses it, and answers with the log status it wrote. That answer, not the
Decision, is what `attempt_recorded` reports to the log line and the metrics: a late
result (its lease lost) is `failed` whatever was decided.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tenacity import RetryCallState

from sidecar.domain import AttemptResult, Job, Outcome
from sidecar.events import WorkerEvents
from sidecar.retry import db_retrying
from sidecar.store import MissingFunctionError, RecordedAttempt, RecordSink, is_transient
from sidecar.worker.decide import Decision

log = logging.getLogger("sidecar.worker")

RECORD_BATCH_SIZE = 100
RECORD_MAX_WAIT_S = 0.005
MAX_REFUSALS = 5
REFUSAL_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)  # between the tries of a refused result: ~15 s in all


def remaining_delay_ms(delay_ms: int | None, ended_at: float, now: float) -> int | None:
    """What is left of the policy's delay at `now`: the database schedules from its own now()."""
    if delay_ms is None:
        return None
    return max(0, delay_ms - math.floor((now - ended_at) * 1000))


class _LogIds:
    """Random (version 4) uuids as text, from 4 KiB of OS randomness at a time.

    One per attempt: uuid.uuid4() makes a getrandom call and a UUID object for each,
    which showed up at ~2 % of the sidecar's CPU in the throughput run.
    """

    _VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}

    def __init__(self) -> None:
        self._pool = ""  # the randomness as hex, turned into text once per 4 KiB
        self._at = 0

    def __call__(self) -> str:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(4096).hex(), 0
        h = self._pool[self._at:self._at + 32]
        self._at += 32
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{self._VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


new_log_id = _LogIds()


@dataclass(slots=True)
class _Finished:
    """An attempt waiting to be recorded; its retry delay is aged when it is written."""

    job: Job
    outcome: Outcome
    decision: Decision
    added_at: float = field(default_factory=time.monotonic)
    # The log row's id, fixed before the first write: a write that committed but whose
    # reply was lost is sent again, and the database must know it already has it.
    log_id: str = field(default_factory=new_log_id)
    sent: bool = False  # once sent, the database checks log_id before recording it again
    refusals: int = 0
    retry_at: float = 0.0  # when a refused result may be tried again


class Recorder:
    """Buffers finished attempts and writes them with `sink.record` in batches (module docstring)."""

    def __init__(
        self, sink: RecordSink, worker_id: str, events: WorkerEvents,
        batch_size: int = RECORD_BATCH_SIZE, max_wait_s: float = RECORD_MAX_WAIT_S,
    ) -> None:
        self._sink = sink
        self._worker_id = worker_id
        self._events = events
        self._batch_size = batch_size
        self._max_wait_s = max_wait_s
        self._buffer: list[_Finished] = []
        self._writing: list[_Finished] = []
        self._set_aside: list[_Finished] = []  # refused results waiting for their next try
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._behind = False
        self.recorded_count = 0
        self.dropped_count = 0

    def add(self, job: Job, outcome: Outcome, decision: Decision) -> None:
        self._buffer.append(_Finished(job, outcome, decision))
        self._idle.clear()
        self._arrived.set()
        if len(self._buffer) >= self._batch_size:
            self._full.set()

    @property
    def pending(self) -> int:
        """Results not yet written: buffered, being written, or set aside after a refusal."""
        return len(self._buffer) + len(self._writing) + len(self._set_aside)

    def waiting_since(self) -> float | None:
        """time.monotonic() when the oldest result not yet written arrived; None when none waits."""
        # Buffer and batch are in arrival order; set-aside results are few.
        oldest = [part[0].added_at for part in (self._buffer, self._writing) if part]
        return min(oldest + [f.added_at for f in self._set_aside], default=None)

    async def drain(self) -> None:
        """Return once everything added so far has been written (or dropped)."""
        await self._idle.wait()

    def database_lost(self) -> None:
        """A call failed on the database: until all that is held is written, `caught_up` waits."""
        self._behind = True

    async def caught_up(self) -> None:
        """Return at once, unless the database failed a call since: then once all is written.

        Results held through a database outage must land before the next claim: their
        leases may have expired meanwhile, and a claim would hand them out again.
        """
        if self._behind:
            await self.drain()
            self._behind = False

    def close(self) -> None:
        self._closing = True
        self._arrived.set()
        self._full.set()

    async def run(self) -> None:
        """Write batches until `close()`; returns after the last one."""
        while not (self._closing and not self._buffer and not self._set_aside):
            await self._next_work()
            await self._gather_batch()
            batch, self._buffer = self._buffer[: self._batch_size], self._buffer[self._batch_size :]
            if len(self._buffer) < self._batch_size:
                self._full.clear()
            if batch:
                await self._write_shielded(batch)
            await self._retry_set_aside()
            self._settle()

    async def _next_work(self) -> None:
        """Wait for a new result, or for the next set-aside result's time to try again."""
        if not self._set_aside:
            await self._arrived.wait()
            return
        left = min(f.retry_at for f in self._set_aside) - time.monotonic()
        if left <= 0 or self._buffer:
            return
        if self._closing:
            await asyncio.sleep(left)  # `_arrived` stays set while closing
            return
        try:
            await asyncio.wait_for(self._arrived.wait(), left)
        except asyncio.TimeoutError:
            pass

    async def _gather_batch(self) -> None:
        """Wait until the batch is full or `max_wait_s` has passed, whichever is first."""
        if not self._buffer or len(self._buffer) >= self._batch_size or self._closing:
            return
        try:
            await asyncio.wait_for(self._full.wait(), self._max_wait_s)
        except asyncio.TimeoutError:
            pass

    async def _retry_set_aside(self) -> None:
        now = time.monotonic()
        due = [f for f in self._set_aside if f.retry_at <= now]
        if not due:
            return
        self._set_aside = [f for f in self._set_aside if f.retry_at > now]
        for item in due:
            await self._write_shielded([item])

    async def _write_shielded(self, batch: list[_Finished]) -> None:
        self._writing = batch
        # Cancelling the recorder must not abandon a write half-way: the task finishes it.
        write = asyncio.ensure_future(self._write(batch))
        write.add_done_callback(lambda _: setattr(self, "_writing", []))
        await asyncio.shield(write)

    def _settle(self) -> None:
        if not self._buffer:
            self._arrived.clear()
            if not self._set_aside:
                self._idle.set()
            if self._closing:
                self._arrived.set()

    async def _write(self, batch: Sequence[_Finished]) -> None:
        try:
            await self._write_retrying(batch)
        except Exception as exc:  # noqa: BLE001 - a refusal (or a bug) must not lose the batch
            await self._write_split(batch, exc)

    async def _write_retrying(self, batch: Sequence[_Finished]) -> None:
        async for attempt in db_retrying(_worth_retrying, before_sleep=self._db_down):
            with attempt:
                started = time.monotonic()
                rows = await self._sink.record(self._results(batch))
        self._events.database_reachable(True)
        self._events.recorded(len(batch), time.monotonic() - started)
        self._landed(batch, rows)

    def _landed(self, batch: Sequence[_Finished], rows: Sequence[RecordedAttempt]) -> None:
        for item, row in zip(batch, rows):
            if row.log_id is None:
                self._drop(item, "delivery_gone", "its delivery no longer exists (lead, rule or funnel deleted)")
            else:
                self.recorded_count += 1
                self._reported(item, row.status)

    def _reported(self, item: _Finished, written: str | None) -> None:
        # A database older than the status column says nothing: the Decision stands in.
        status = written or item.decision.status
        delay_ms = item.decision.retry_in_ms if status == "retrying" else None
        self._events.attempt_recorded(item.job, item.outcome, status, delay_ms)

    async def _write_split(self, batch: Sequence[_Finished], exc: Exception) -> None:
        if len(batch) > 1:
            middle = len(batch) // 2
            await self._write(batch[:middle])
            await self._write(batch[middle:])
            return
        self._refused(batch[0], exc)

    def _refused(self, item: _Finished, exc: Exception) -> None:
        item.refusals += 1
        if item.refusals >= MAX_REFUSALS:
            self._drop(item, "refused", f"the database refused it {item.refusals} times: {exc}")
            return
        wait_s = REFUSAL_BACKOFF_S[min(item.refusals, len(REFUSAL_BACKOFF_S)) - 1]
        log.warning("the database refused the result of delivery %s (%s); set aside, trying again in %g s",
                    item.job.queue_id, exc, wait_s)
        item.retry_at = time.monotonic() + wait_s
        self._set_aside.append(item)

    def _drop(self, item: _Finished, reason: str, why: str) -> None:
        self.dropped_count += 1
        level = logging.INFO if reason == "delivery_gone" else logging.ERROR
        log.log(level, "result of delivery %s dropped: %s", item.job.queue_id, why,
                extra={"fields": {"delivery": str(item.job.queue_id), "reason": reason}})
        self._events.result_dropped(item.job, reason)

    def _results(self, batch: Sequence[_Finished]) -> list[AttemptResult]:
        """The batch as sent now; marks it sent, since a call that fails may still have committed."""
        now = time.monotonic()
        results = [
            AttemptResult(f.job, self._worker_id, f.outcome,
                          remaining_delay_ms(f.decision.retry_in_ms, f.outcome.ended_at, now), f.log_id,
                          first_send=not f.sent, status=f.decision.status)
            for f in batch
        ]
        for f in batch:
            f.sent = True
        return results

    def _db_down(self, state: RetryCallState) -> None:
        self.database_lost()
        self._events.database_reachable(False)
        error = state.outcome.exception() if state.outcome else None
        log.warning("recording %d results failed (%s); retrying", self.pending, error)


def _worth_retrying(exc: BaseException) -> bool:
    """An outage, or the record function missing (migrations pending): no result is at fault."""
    return is_transient(exc) or isinstance(exc, MissingFunctionError)
