"""A delivery deleted while its attempt is in flight (lead, rule or funnel gone) stalls nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from aiohttp import web

from sidecar.delivery.attempt import Deliverer
from sidecar.domain import AttemptResult, Outcome
from sidecar.ops.metrics import Metrics
from sidecar.store.direct import DirectStore
from sidecar.worker.loop import Worker
from tests.integration.support import insert_lead, make_rule, options
from tests.receiver import Receiver


async def test_direct_store_answers_no_log_id_for_a_deleted_delivery(db: asyncpg.Connection, store: DirectStore) -> None:
    rule = await make_rule(db, "https://example.com/hook")
    lead = await insert_lead(db, rule.funnel_id)
    [job] = await store.claim("w", 10, 30)
    await db.execute("delete from public.leads where id = $1", lead)
    outcome = Outcome(request_headers={}, duration_ms=3, ended_at=0.0, status=200)

    [row] = await store.record([AttemptResult(job, "w", outcome, None, str(uuid.uuid4()), first_send=True)])

    assert (row.queue_id, row.log_id, row.applied) == (job.queue_id, None, False)


async def test_deleting_a_lead_mid_attempt_drops_its_result_and_records_the_others(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def held(_: web.Request) -> web.Response:
        entered.set()
        await release.wait()
        return web.Response(text="ok")

    doomed_rule = await make_rule(db, receiver.script("/doomed", held))
    other_rule = await make_rule(db, receiver.url("/other"))
    doomed_lead = await insert_lead(db, doomed_rule.funnel_id)
    metrics = Metrics()
    async with Deliverer(allow_private_targets=True) as deliverer:
        worker = Worker(store, deliverer, options(), metrics)
        running = asyncio.create_task(worker.run())
        await asyncio.wait_for(entered.wait(), 10)
        await db.execute("delete from public.leads where id = $1", doomed_lead)
        release.set()
        for _ in range(5):
            await insert_lead(db, other_rule.funnel_id)
        async with asyncio.timeout(20):
            while await db.fetchval("select count(*) from public.webhook_logs") < 5:
                await asyncio.sleep(0.05)
        worker.stop()
        summary = await running

    assert summary.unrecorded == 0
    assert await db.fetchval("select count(*) from public.webhook_queue where status = 'completed'") == 5
    assert metrics.registry.get_sample_value("webhook_results_dropped_total", {"reason": "delivery_gone"}) == 1
    assert metrics.health().ok
