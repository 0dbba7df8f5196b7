"""What the worker reports as it runs; metrics and logs listen, the worker does not know which."""

from __future__ import annotations

from typing import Protocol

from sidecar.domain import Job, Outcome


class WorkerEvents(Protocol):
    def attempt_started(self, job: Job) -> None: ...

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        """The HTTP attempt is over; its verdict comes with `attempt_recorded`."""

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        """The database logged the attempt with `status` (its verdict, not the sidecar's guess).

        `retry_in_ms` is the policy's delay when `status` is `retrying`, else None.
        """

    def attempt_abandoned(self, job: Job) -> None:
        """An attempt cancelled at shutdown after its grace: no outcome, the delivery is released."""

    def claimed(self, count: int, seconds: float) -> None: ...

    def recorded(self, count: int, seconds: float) -> None: ...

    def database_reachable(self, ok: bool) -> None: ...

    def result_dropped(self, job: Job, reason: str) -> None:
        """A result set aside for good: `delivery_gone` (nothing to record it on) or `refused`."""


class NoEvents:
    """The default listener: ignores everything."""

    def attempt_started(self, job: Job) -> None:
        return None

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        return None

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        return None

    def attempt_abandoned(self, job: Job) -> None:
        return None

    def claimed(self, count: int, seconds: float) -> None:
        return None

    def recorded(self, count: int, seconds: float) -> None:
        return None

    def database_reachable(self, ok: bool) -> None:
        return None

    def result_dropped(self, job: Job, reason: str) -> None:
        return None
