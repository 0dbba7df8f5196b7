"""Retry delays past interval's range, and dates past Python's: nothing stalls, every reader prints them."""

from __future__ import annotations

import json
import math

import asyncpg
import pytest

from sidecar.cli import queue_snapshot
from sidecar.ops.metrics import Metrics
from sidecar.store.direct import DirectStore
from sidecar.worker.decide import MAX_RETRY_DELAY_MS
from tests.integration.support import insert_lead, make_rule
from tests.integration.test_cli import env, sidecar  # noqa: F401 - the env fixture
from tests.receiver import Receiver, reply

FAR_DATES = ("infinity", "20000-01-01 00:00+00", "294276-12-31 23:59:59+00")


async def test_the_largest_allowed_backoff_schedules_the_retry_30_days_out_and_the_run_goes_on(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver  # noqa: F811
) -> None:
    down = await make_rule(db, receiver.script("/down", reply(500)), retry_delay_ms=86_400_000,
                           retry_backoff_multiplier=10, max_retries=20)
    ok = await make_rule(db, receiver.url("/ok"))
    await insert_lead(db, down.funnel_id)
    # Attempt 12 of 21: 86,400,000 ms x 10^11 is far past interval's and bigint's range.
    await db.execute("update public.webhook_queue set attempt_number = 12 where routing_rule_id = $1", down.id)
    for _ in range(3):
        await insert_lead(db, ok.funnel_id)

    code, _, err = await sidecar(env, "run", "--once")

    assert code == 0, err
    assert "Traceback" not in err and "out of range" not in err, err
    assert len(receiver.hits_on("/down")) == 1 and len(receiver.hits_on("/ok")) == 3
    row = await db.fetchrow(
        "select status::text, attempt_number, extract(epoch from scheduled_at - now()) * 1000 as wait_ms"
        " from public.webhook_queue where routing_rule_id = $1", down.id)
    assert (row["status"], row["attempt_number"]) == ("pending", 13)
    assert float(row["wait_ms"]) == pytest.approx(MAX_RETRY_DELAY_MS, abs=120_000)
    assert await db.fetchval("select status::text from public.webhook_logs where routing_rule_id = $1",
                             down.id) == "retrying"
    assert await db.fetchval("select count(*) from public.webhook_queue where status = 'completed'") == 3
    code, out, err = await sidecar(env, "queue")
    assert code == 0, err


async def _far_rows(db: asyncpg.Connection) -> None:
    rule = await make_rule(db, "https://example.com/hook")
    await insert_lead(db, rule.funnel_id)
    [job] = await db.fetch("select * from public.claim_webhook_jobs('w', 1, 30)")
    await db.fetch("select * from public.record_webhook_attempts($1::jsonb)", json.dumps([{
        "queue_id": str(job["queue_id"]), "worker_id": "w", "attempt_number": 1, "webhook_url": job["webhook_url"],
        "request_headers": {}, "duration_ms": 1, "success": True, "response_status": 200}]))
    await db.execute("update public.webhook_logs set created_at = '20000-01-01 00:00+00'")
    await db.execute("update public.webhook_queue set completed_at = 'infinity', started_at = '-infinity'")
    for when in (*FAR_DATES, "-infinity"):  # the last one due since forever
        await insert_lead(db, rule.funnel_id)
        await db.execute(
            "update public.webhook_queue set scheduled_at = $1::text::timestamptz"
            " where id = (select id from public.webhook_queue where status = 'pending'"
            " and scheduled_at between '2000-01-01' and '9999-01-01')", when)


async def test_the_cli_reads_rows_dated_infinity_and_past_year_9999(
    db: asyncpg.Connection, env: dict[str, str]  # noqa: F811
) -> None:
    await _far_rows(db)

    for args in (("queue",), ("--json", "queue"), ("logs",), ("--json", "logs")):
        code, out, err = await sidecar(env, *args)
        assert code == 0 and "Traceback" not in err, (args, err)
        assert ("infinity" in out) if args[-1] == "queue" else ("20000-01-01" in out), (args, out)


async def test_the_metrics_queue_refresh_reads_rows_dated_infinity(
    db: asyncpg.Connection, store: DirectStore
) -> None:
    await _far_rows(db)
    metrics = Metrics()

    snapshot = await queue_snapshot(store)
    refreshed = await metrics.refresh_queue(lambda: queue_snapshot(store))

    assert refreshed is True
    assert snapshot.counts["pending"] == 4 and snapshot.oldest_due_age_s == math.inf
    assert [d["status"] for d in await store.logs()] == ["success"]
    assert (await store.delivery((await store.logs())[0]["queue_id"]))["completed_at"] == "infinity"
