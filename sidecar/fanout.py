"""One WorkerEvents listener that forwards every event to several (metrics, attempt log, ...)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sidecar.domain import Job, Outcome
from sidecar.events import WorkerEvents

log = logging.getLogger("sidecar.events")


class FanOut:
    """Forwards each event to every listener in order; a failing listener never stops delivery."""

    def __init__(self, *listeners: WorkerEvents) -> None:
        self.listeners = listeners

    def _each(self, call: Callable[[WorkerEvents], None], event: str) -> None:
        for listener in self.listeners:
            try:
                call(listener)
            except Exception:  # noqa: BLE001 - observability faults must not fail an attempt
                log.exception("%s listener failed on %s", type(listener).__name__, event)

    def attempt_started(self, job: Job) -> None:
        self._each(lambda listener: listener.attempt_started(job), "attempt_started")

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        self._each(lambda listener: listener.attempt_finished(job, outcome), "attempt_finished")

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        self._each(lambda listener: listener.attempt_recorded(job, outcome, status, retry_in_ms),
                   "attempt_recorded")

    def attempt_abandoned(self, job: Job) -> None:
        self._each(lambda listener: listener.attempt_abandoned(job), "attempt_abandoned")

    def claimed(self, count: int, seconds: float) -> None:
        self._each(lambda listener: listener.claimed(count, seconds), "claimed")

    def recorded(self, count: int, seconds: float) -> None:
        self._each(lambda listener: listener.recorded(count, seconds), "recorded")

    def database_reachable(self, ok: bool) -> None:
        self._each(lambda listener: listener.database_reachable(ok), "database_reachable")

    def result_dropped(self, job: Job, reason: str) -> None:
        self._each(lambda listener: listener.result_dropped(job, reason), "result_dropped")
