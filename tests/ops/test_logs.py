"""Attempt log lines: one per attempt, in text (key=value) and JSON-lines shapes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sidecar.ops.logs import AttemptLog, configure_logging
from tests.ops.samples import failure, make_job, success


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Restore the root logger so one test's handler does not leak into the next."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def capture(fmt: str, level: int = logging.INFO) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(fmt, level, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_text_line_carries_every_attempt_field(root_logging: None) -> None:
    stream = capture("text")
    job = make_job(attempt=2, max_attempts=4)
    AttemptLog().attempt_recorded(job, failure("http_error", 500, duration_ms=40), "retrying", 2000)
    [line] = lines(stream)
    assert " WARNING sidecar.attempts attempt retrying " in line
    for part in (f"delivery={job.queue_id}", f"webhook_id={job.webhook_id}", f"rule={job.routing_rule_id}",
                 "attempt=2/4", "status=retrying", "http_status=500", "error_type=http_error",
                 "duration_ms=40", "host=hooks.example.com", 'error="HTTP 500: Internal Server Error"'):
        assert part in line


def test_text_line_of_a_success_marks_absent_values_with_a_dash(root_logging: None) -> None:
    stream = capture("text", logging.DEBUG)
    AttemptLog().attempt_recorded(make_job(), success(duration_ms=9), "success", None)
    [line] = lines(stream)
    assert " DEBUG   sidecar.attempts attempt success " in line
    assert "status=success" in line and "http_status=200" in line and "error_type=-" in line


def test_json_line_is_one_object_with_typed_fields(root_logging: None) -> None:
    stream = capture("json")
    job = make_job(attempt=4, max_attempts=4)
    AttemptLog().attempt_recorded(job, failure("timeout", None, duration_ms=10_000), "failed", None)
    [line] = lines(stream)
    entry = json.loads(line)
    assert entry["level"] == "warning" and entry["logger"] == "sidecar.attempts"
    assert entry["msg"] == "attempt failed"
    assert entry["delivery"] == str(job.queue_id) and entry["webhook_id"] == str(job.webhook_id)
    assert entry["rule"] == str(job.routing_rule_id)
    assert entry["attempt"] == "4/4" and entry["status"] == "failed"
    assert entry["http_status"] is None and entry["error_type"] == "timeout"
    assert entry["duration_ms"] == 10_000 and entry["host"] == "hooks.example.com"
    assert entry["ts"].endswith("Z")


def test_a_success_the_database_wrote_failed_is_a_warning_line_saying_failed(root_logging: None) -> None:
    stream = capture("text", logging.INFO)
    AttemptLog().attempt_recorded(make_job(), success(), "failed", None)
    [line] = lines(stream)
    assert " WARNING sidecar.attempts attempt failed " in line and "status=failed" in line


def test_the_http_attempt_ending_writes_no_line_before_the_verdict(root_logging: None) -> None:
    stream = capture("text", logging.DEBUG)
    AttemptLog().attempt_finished(make_job(), failure("timeout", None))
    assert lines(stream) == []


def test_the_url_path_and_query_are_never_logged(root_logging: None) -> None:
    stream = capture("json")
    AttemptLog().attempt_recorded(make_job(url="https://hooks.example.com/in?token=s3cret"), success(), "success", None)
    assert "s3cret" not in stream.getvalue()


def test_database_outage_is_logged_once_and_recovery_once(root_logging: None) -> None:
    stream = capture("text")
    log = AttemptLog()
    log.database_reachable(True)
    for _ in range(3):
        log.database_reachable(False)
    log.database_reachable(True)
    log.database_reachable(True)
    assert [line.split("sidecar.attempts ", 1)[1] for line in lines(stream)] == [
        "database unreachable; deliveries wait until it is back",
        "database reachable again",
    ]


def test_configuring_twice_does_not_double_lines(root_logging: None) -> None:
    capture("text")
    stream = capture("json")
    logging.getLogger("sidecar.test").info("once")
    assert len(lines(stream)) == 1


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="use text or json"):
        configure_logging("yaml")


def test_at_info_successes_make_no_line_and_failures_do(root_logging: None) -> None:
    stream = capture("text", logging.INFO)
    log = AttemptLog()
    for _ in range(3):
        log.attempt_recorded(make_job(), success(duration_ms=9), "success", None)
    log.attempt_recorded(make_job(), failure("timeout", None, duration_ms=10_000), "failed", None)
    [line] = lines(stream)
    assert " WARNING sidecar.attempts attempt failed " in line


def test_a_summary_counts_the_attempts_of_each_interval(root_logging: None) -> None:
    stream = capture("json", logging.INFO)
    log = AttemptLog(summary_interval_s=0.0)  # every attempt closes an interval
    log.attempt_recorded(make_job(), success(duration_ms=9), "success", None)
    log.attempt_recorded(make_job(), failure("http_error", 503, duration_ms=5), "retrying", 1000)
    summaries = [json.loads(line) for line in lines(stream) if '"attempt summary"' in line]
    assert [(s["attempts"], s["success"], s["retrying"], s["failed"]) for s in summaries] == [(1, 1, 0, 0), (1, 0, 1, 0)]
    assert summaries[0]["level"] == "info" and summaries[0]["seconds"] == 0


def test_no_summary_before_the_interval_ends(root_logging: None) -> None:
    stream = capture("text", logging.INFO)
    log = AttemptLog(summary_interval_s=3600.0)
    log.attempt_recorded(make_job(), success(duration_ms=9), "success", None)
    assert lines(stream) == []
