"""One WorkerEvents listener that forwards every event to several (metrics, attempt log, ...)."""

from __future__ import annotations

import logging

from sidecar.domain import Job, Outcome
from sidecar.events import WorkerEvents

log = logging.getLogger("sidecar.events")


def _failed(listener: WorkerEvents, event: str) -> None:
    log.exception("%s listener failed on %s", type(listener).__name__, event)


class FanOut:
    """Forwards each event to every listener in order; a failing listener never stops delivery.

    Each event is its own loop: three of them run per delivery, and a closure plus a
    helper call per event cost more than the listeners that do nothing with it.
    """

    def __init__(self, *listeners: WorkerEvents) -> None:
        self.listeners = listeners

    def attempt_started(self, job: Job) -> None:
        for listener in self.listeners:
            try:
                listener.attempt_started(job)
            except Exception:  # noqa: BLE001 - observability faults must not fail an attempt
                _failed(listener, "attempt_started")

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        for listener in self.listeners:
            try:
                listener.attempt_finished(job, outcome)
            except Exception:  # noqa: BLE001
                _failed(listener, "attempt_finished")

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        for listener in self.listeners:
            try:
                listener.attempt_recorded(job, outcome, status, retry_in_ms)
            except Exception:  # noqa: BLE001
                _failed(listener, "attempt_recorded")

    def attempt_abandoned(self, job: Job) -> None:
        for listener in self.listeners:
            try:
                listener.attempt_abandoned(job)
            except Exception:  # noqa: BLE001
                _failed(listener, "attempt_abandoned")

    def claimed(self, count: int, seconds: float) -> None:
        for listener in self.listeners:
            try:
                listener.claimed(count, seconds)
            except Exception:  # noqa: BLE001
                _failed(listener, "claimed")

    def recorded(self, count: int, seconds: float) -> None:
        for listener in self.listeners:
            try:
                listener.recorded(count, seconds)
            except Exception:  # noqa: BLE001
                _failed(listener, "recorded")

    def database_reachable(self, ok: bool) -> None:
        for listener in self.listeners:
            try:
                listener.database_reachable(ok)
            except Exception:  # noqa: BLE001
                _failed(listener, "database_reachable")

    def result_dropped(self, job: Job, reason: str) -> None:
        for listener in self.listeners:
            try:
                listener.result_dropped(job, reason)
            except Exception:  # noqa: BLE001
                _failed(listener, "result_dropped")
