"""The worker's waiting line: claim order, per-host caps, what a slow host hands back."""

from __future__ import annotations

import time

from sidecar.worker.lines import Lines
from tests.unit.test_worker import make_job


def line(concurrency: int = 10, per_host: int = 2, waiting_per_host: int | None = 2) -> tuple[Lines, list[bool]]:
    woken: list[bool] = []
    return Lines(concurrency, per_host, waiting_per_host, on_short_line=lambda: woken.append(True)), woken


def test_without_a_binding_host_cap_jobs_start_in_claim_order() -> None:
    lines, _ = line(concurrency=2, per_host=2)
    jobs = [make_job() for _ in range(3)]
    for job in jobs:
        assert lines.hold(job, "a:443", time.monotonic(), 60)

    assert all(job.queue_id in lines for job in jobs)
    started = [lines.take_startable() for _ in range(3)]

    assert [c.job for c in started if c] == jobs
    assert not any(job.queue_id in lines for job in jobs)  # started: held as running, not waiting
    assert lines.take_startable() is None and len(lines) == 0


def test_a_job_whose_host_is_full_lets_a_later_one_for_another_host_go_first() -> None:
    lines, _ = line(per_host=1)
    first_a, second_a, b = make_job(), make_job(), make_job()
    for job, host in ((first_a, "a:443"), (second_a, "a:443"), (b, "b:443")):
        lines.hold(job, host, time.monotonic(), 60)

    one = lines.take_startable()
    two = lines.take_startable()

    assert one is not None and two is not None
    assert (one.job, two.job) == (first_a, b)
    assert lines.take_startable() is None  # a's only slot is taken
    lines.finished(one)
    three = lines.take_startable()
    assert three is not None and three.job == second_a


def test_a_slow_hosts_line_beyond_its_length_is_handed_back_newest_first_and_others_stay() -> None:
    lines, woken = line(per_host=1, waiting_per_host=1)
    now = time.monotonic()
    slow = [make_job() for _ in range(4)]
    for job in slow:  # claimed while the host still looked fast: all may wait
        assert lines.hold(job, "h:443", now, 60)
    other = make_job()
    assert lines.hold(other, "o:443", now, 60)
    lines.hosts.take("h:443", now - 10.0)  # then an attempt under way for 10 s makes it slow

    handed_back = lines.trim_slow(now)

    assert handed_back == [("h:443", j.queue_id) for j in reversed(slow[1:])]  # its line keeps 1
    assert len(lines) == 2
    assert not lines.hold(make_job(), "h:443", now, 60)  # a slow host's full line takes no more


def test_when_a_handed_back_hosts_line_drains_the_worker_is_told_to_claim_again() -> None:
    lines, woken = line(per_host=1, waiting_per_host=1)
    now = time.monotonic()
    first, second = make_job(), make_job()
    lines.hold(first, "h:443", now, 60)
    lines.hold(second, "h:443", now, 60)
    lines.hosts.defer_ms("h:443", 5, now)  # the worker handed 5 back

    started = lines.take_startable()
    assert started is not None and woken == []  # one still waits: the line is not short yet
    lines.finished(started)
    assert lines.take_startable() is not None
    assert woken == [True]


def test_clear_empties_the_line_and_names_what_to_release() -> None:
    lines, _ = line()
    jobs = [make_job(), make_job()]
    for job in jobs:
        lines.hold(job, "a:443", time.monotonic(), 60)

    assert lines.clear() == [j.queue_id for j in jobs]
    assert len(lines) == 0 and lines.hosts.waiting == {}
