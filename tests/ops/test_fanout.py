"""FanOut: every listener hears every event, and one that raises does not silence the rest."""

from __future__ import annotations

import pytest

from sidecar.domain import Job, Outcome
from sidecar.fanout import FanOut
from sidecar.ops.metrics import Metrics
from tests.ops.samples import make_job, success


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def attempt_started(self, job: Job) -> None:
        self.calls.append("started")

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        self.calls.append("finished")

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        self.calls.append(f"recorded-attempt:{status}:{retry_in_ms}")

    def claimed(self, count: int, seconds: float) -> None:
        self.calls.append(f"claimed:{count}")

    def recorded(self, count: int, seconds: float) -> None:
        self.calls.append(f"recorded:{count}")

    def database_reachable(self, ok: bool) -> None:
        self.calls.append(f"db:{ok}")


class Broken(Recorder):
    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        raise RuntimeError("listener bug")


def drive(events: FanOut) -> None:
    job = make_job()
    events.claimed(1, 0.01)
    events.attempt_started(job)
    events.attempt_finished(job, success())
    events.recorded(1, 0.02)
    events.attempt_recorded(job, success(), "success", None)
    events.database_reachable(True)


def test_every_listener_hears_every_event_in_order() -> None:
    first, second = Recorder(), Recorder()
    drive(FanOut(first, second))
    expected = ["claimed:1", "started", "finished", "recorded:1", "recorded-attempt:success:None", "db:True"]
    assert first.calls == expected and second.calls == expected


def test_a_raising_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    metrics, after = Metrics(), Recorder()
    drive(FanOut(Broken(), metrics, after))
    assert after.calls[2] == "finished"
    value = metrics.registry.get_sample_value(
        "webhook_attempts_total", {"outcome": "success", "error_type": "none", "status": "success"})
    assert value == 1
    assert "Broken listener failed on attempt_finished" in caplog.text
