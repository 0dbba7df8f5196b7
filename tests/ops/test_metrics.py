"""Metrics: worker events move the Prometheus series; /metrics and /healthz over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sidecar.ops.metrics import Metrics, MetricsServerError, QueueSnapshot, Server, serve
from tests.ops.samples import failure, make_job, success


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


@pytest.fixture
async def served() -> AsyncIterator[tuple[Metrics, Server, FakeClock]]:
    clock = FakeClock()
    metrics = Metrics(unreachable_limit_s=0.5, clock=clock)
    server = await serve(metrics, "127.0.0.1", 0)
    try:
        yield metrics, server, clock
    finally:
        await server.close()


def test_attempts_are_counted_by_outcome_error_type_and_status() -> None:
    metrics = Metrics()
    metrics.attempt_recorded(make_job(), success(), "success", None)
    metrics.attempt_recorded(make_job(), failure("timeout", None), "retrying", 1000)
    metrics.attempt_recorded(make_job(attempt=4), failure("http_error", 500), "failed", None)
    assert sample(metrics, "webhook_attempts_total", outcome="success", error_type="none", status="success") == 1
    assert sample(metrics, "webhook_attempts_total", outcome="failure", error_type="timeout", status="retrying") == 1
    assert sample(metrics, "webhook_attempts_total", outcome="failure", error_type="http_error", status="failed") == 1


def test_only_final_attempts_finish_a_delivery() -> None:
    metrics = Metrics()
    metrics.attempt_recorded(make_job(), failure(), "retrying", 1000)
    assert sample(metrics, "webhook_deliveries_finished_total", result="failed") == 0
    metrics.attempt_recorded(make_job(attempt=2), success(), "success", None)
    metrics.attempt_recorded(make_job(), failure("blocked", None), "failed", None)
    assert sample(metrics, "webhook_deliveries_finished_total", result="completed") == 1
    assert sample(metrics, "webhook_deliveries_finished_total", result="failed") == 1


def test_the_status_counted_is_the_one_the_database_wrote_not_one_guessed_from_the_delay() -> None:
    metrics = Metrics()
    metrics.attempt_finished(make_job(), failure("http_error", 500))
    assert sample(metrics, "webhook_attempts_total", outcome="failure", error_type="http_error", status="failed") == 0
    # A late result: decided retrying (a delay), written failed by the database.
    metrics.attempt_recorded(make_job(), failure("http_error", 500), "failed", None)
    assert sample(metrics, "webhook_attempts_total", outcome="failure", error_type="http_error", status="failed") == 1
    assert sample(metrics, "webhook_deliveries_finished_total", result="failed") == 1


def test_attempt_duration_lands_in_the_histogram_in_seconds() -> None:
    metrics = Metrics()
    metrics.attempt_finished(make_job(), success(duration_ms=7))
    assert sample(metrics, "webhook_attempt_duration_seconds_count", outcome="success") == 1
    assert sample(metrics, "webhook_attempt_duration_seconds_sum", outcome="success") == pytest.approx(0.007)
    assert sample(metrics, "webhook_attempt_duration_seconds_bucket", outcome="success", le="0.005") == 0
    assert sample(metrics, "webhook_attempt_duration_seconds_bucket", outcome="success", le="0.01") == 1
    assert sample(metrics, "webhook_attempt_duration_seconds_bucket", outcome="success", le="30.0") == 1


def test_in_flight_rises_when_an_attempt_starts_and_falls_when_it_ends() -> None:
    metrics = Metrics()
    first, second = make_job(), make_job()
    metrics.attempt_started(first)
    metrics.attempt_started(second)
    assert sample(metrics, "webhook_attempts_in_flight") == 2
    metrics.attempt_finished(first, success())
    assert sample(metrics, "webhook_attempts_in_flight") == 1


def test_claim_and_record_latency_and_batch_sizes_are_observed() -> None:
    metrics = Metrics()
    metrics.claimed(7, 0.004)
    metrics.claimed(0, 0.002)
    metrics.recorded(7, 0.03)
    assert sample(metrics, "webhook_claim_duration_seconds_count") == 2
    assert sample(metrics, "webhook_claim_duration_seconds_sum") == pytest.approx(0.006)
    assert sample(metrics, "webhook_claim_batch_size_sum") == 7
    assert sample(metrics, "webhook_claim_batch_size_bucket", le="0.0") == 1
    assert sample(metrics, "webhook_record_duration_seconds_sum") == pytest.approx(0.03)
    assert sample(metrics, "webhook_record_batch_size_sum") == 7


def test_queue_snapshot_sets_depth_for_every_status_and_the_oldest_due_age() -> None:
    metrics = Metrics()
    metrics.observe_queue(QueueSnapshot({"pending": 12, "processing": 3, "failed": 1}, 42.5))
    assert sample(metrics, "webhook_queue_depth", status="pending") == 12
    assert sample(metrics, "webhook_queue_oldest_due_age_seconds") == 42.5
    metrics.observe_queue(QueueSnapshot({"completed": 16}, None))
    # A status that drained must read 0, not keep its last value.
    assert metrics.registry.get_sample_value("webhook_queue_depth", {"status": "pending"}) == 0
    assert sample(metrics, "webhook_queue_depth", status="completed") == 16
    assert sample(metrics, "webhook_queue_oldest_due_age_seconds") == 0


def test_held_deliveries_and_paused_rules_are_two_series_without_a_label_per_rule() -> None:
    metrics = Metrics()
    metrics.observe_queue(QueueSnapshot({"pending": 12}, None, held=9, paused_rules=2))
    assert sample(metrics, "webhook_held_deliveries") == 9
    assert sample(metrics, "webhook_paused_rules") == 2
    metrics.observe_queue(QueueSnapshot({"pending": 3}, None))
    assert sample(metrics, "webhook_held_deliveries") == 0 and sample(metrics, "webhook_paused_rules") == 0


async def test_a_failed_queue_read_is_counted_and_does_not_raise() -> None:
    metrics = Metrics()

    async def broken() -> QueueSnapshot:
        raise ConnectionResetError("database went away")

    assert await metrics.refresh_queue(broken) is False
    assert sample(metrics, "webhook_queue_refresh_errors_total") == 1


def test_two_instances_keep_separate_series() -> None:
    one, two = Metrics(), Metrics()
    one.attempt_recorded(make_job(), success(), "success", None)
    assert sample(one, "webhook_attempts_total", outcome="success", error_type="none", status="success") == 1
    assert sample(two, "webhook_attempts_total", outcome="success", error_type="none", status="success") == 0


async def test_metrics_endpoint_serves_the_moved_series_over_http(served: tuple[Metrics, Server, FakeClock]) -> None:
    metrics, server, _ = served
    metrics.attempt_started(make_job())
    metrics.attempt_finished(make_job(), failure("network", None))
    metrics.attempt_recorded(make_job(), failure("network", None), "retrying", 2000)
    metrics.claimed(3, 0.01)
    status, body = await get(f"{server.url}/metrics")
    assert status == 200
    assert 'webhook_attempts_total{error_type="network",outcome="failure",status="retrying"} 1.0' in body
    assert "webhook_claim_batch_size_sum 3.0" in body
    assert "# TYPE webhook_attempt_duration_seconds histogram" in body


async def test_healthz_is_ok_while_the_database_is_reachable(served: tuple[Metrics, Server, FakeClock]) -> None:
    metrics, server, _ = served
    assert await get(f"{server.url}/healthz") == (200, "ok\n")
    metrics.database_reachable(True)
    assert await get(f"{server.url}/healthz") == (200, "ok\n")


async def test_healthz_fails_once_the_database_is_unreachable_longer_than_the_limit(
    served: tuple[Metrics, Server, FakeClock],
) -> None:
    metrics, server, clock = served
    metrics.database_reachable(False)
    clock.now += 0.4
    metrics.database_reachable(False)  # a repeat must not restart the outage
    assert (await get(f"{server.url}/healthz"))[0] == 200
    clock.now += 0.2
    status, text = await get(f"{server.url}/healthz")
    assert status == 503
    assert "database unreachable for" in text and "limit 0.5 s" in text
    assert sample(metrics, "webhook_database_up") == 0


async def test_healthz_recovers_when_the_database_answers_again(served: tuple[Metrics, Server, FakeClock]) -> None:
    metrics, server, clock = served
    metrics.database_reachable(False)
    clock.now += 10
    assert (await get(f"{server.url}/healthz"))[0] == 503
    metrics.database_reachable(True)
    assert await get(f"{server.url}/healthz") == (200, "ok\n")


async def test_serve_refreshes_queue_gauges_from_the_snapshot_callable() -> None:
    metrics = Metrics()
    read = asyncio.Event()

    async def snapshot() -> QueueSnapshot:
        read.set()
        return QueueSnapshot({"pending": 5}, 3.0)

    server = await serve(metrics, "127.0.0.1", 0, queue_snapshot=snapshot, refresh_interval_s=0.01)
    try:
        await asyncio.wait_for(read.wait(), timeout=10)
        _, body = await get(f"{server.url}/metrics")
    finally:
        await server.close()
    assert 'webhook_queue_depth{status="pending"} 5.0' in body
    assert "webhook_queue_oldest_due_age_seconds 3.0" in body


async def test_a_taken_port_gives_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsServerError, match=rf"WEBHOOK_METRICS_PORT={port}.*in use"):
            await serve(Metrics(), "127.0.0.1", port)
