"""The attempt line and webhook_attempts_total report the status the database wrote, not the Decision."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from sidecar.domain import Job, Outcome
from sidecar.fanout import FanOut
from sidecar.ops.logs import ATTEMPT_LOGGER, AttemptLog
from sidecar.ops.metrics import Metrics
from sidecar.store.direct import DirectStore
from sidecar.worker.decide import decide
from sidecar.worker.recorder import Recorder
from tests.integration.support import insert_lead, make_rule


def _failed_500() -> Outcome:
    return Outcome(request_headers={}, duration_ms=5, ended_at=time.monotonic(), status=500,
                   error_type="http_error", error_message="HTTP 500: Internal Server Error")


async def _record_as(store: DirectStore, worker_id: str, job: Job, outcome: Outcome) -> Metrics:
    metrics = Metrics()
    recorder = Recorder(store, worker_id, FanOut(metrics, AttemptLog()), batch_size=10, max_wait_s=0.001)
    task = asyncio.create_task(recorder.run())
    recorder.add(job, outcome, decide(job, outcome))
    await asyncio.wait_for(recorder.drain(), 10)
    recorder.close()
    await asyncio.wait_for(task, 10)
    return metrics


def _attempts(metrics: Metrics, status: str) -> float:
    labels = {"outcome": "failure", "error_type": "http_error", "status": status}
    return metrics.registry.get_sample_value("webhook_attempts_total", labels) or 0.0


def _line_status(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.fields["status"] for r in caplog.records if r.name == ATTEMPT_LOGGER and hasattr(r, "fields")]


async def test_a_late_result_is_reported_failed_though_the_worker_decided_retrying(
    db: asyncpg.Connection, store: DirectStore, caplog: pytest.LogCaptureFixture
) -> None:
    rule = await make_rule(db, "https://example.com/hook")
    await insert_lead(db, rule.funnel_id)
    [job] = await store.claim("w-late", 10, 30)
    await db.execute("update public.webhook_queue set lease_expires_at = now() - interval '1 second'")
    await db.execute("select public.requeue_stale_webhook_jobs()")
    [_] = await store.claim("w-other", 10, 30)  # another worker holds the delivery now
    outcome = _failed_500()
    assert decide(job, outcome).status == "retrying"

    with caplog.at_level("WARNING", logger=ATTEMPT_LOGGER):
        metrics = await _record_as(store, "w-late", job, outcome)

    assert (_attempts(metrics, "failed"), _attempts(metrics, "retrying")) == (1, 0)
    assert _line_status(caplog) == ["failed"]
    assert await db.fetchval("select status::text from public.webhook_logs") == "failed"


async def test_a_result_that_holds_its_lease_is_reported_retrying(
    db: asyncpg.Connection, store: DirectStore, caplog: pytest.LogCaptureFixture
) -> None:
    rule = await make_rule(db, "https://example.com/hook")
    await insert_lead(db, rule.funnel_id)
    [job] = await store.claim("w", 10, 30)

    with caplog.at_level("WARNING", logger=ATTEMPT_LOGGER):
        metrics = await _record_as(store, "w", job, _failed_500())

    assert (_attempts(metrics, "failed"), _attempts(metrics, "retrying")) == (0, 1)
    assert _line_status(caplog) == ["retrying"]
    assert metrics.registry.get_sample_value("webhook_deliveries_finished_total", {"result": "failed"}) is None
