"""A real worker delivering to a real receiver on 127.0.0.1: /metrics, scraped mid-run, moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from sidecar.delivery.attempt import Deliverer
from sidecar.fanout import FanOut
from sidecar.ops.logs import AttemptLog
from sidecar.ops.metrics import Metrics, QueueSnapshot, Server, serve
from sidecar.store.direct import DirectStore
from sidecar.worker.loop import Worker, WorkerOptions
from tests.receiver import serve_app

LEADS = 3


class GatedReceiver:
    """Holds every request until `open()`: attempts stay in flight while the test scrapes."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.arrived = 0
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived += 1
        await self.gate.wait()
        return web.Response(status=500 if request.path == "/broken" else 200, text="thanks")


@pytest.fixture
async def receiver() -> AsyncIterator[GatedReceiver]:
    state = GatedReceiver()
    app = web.Application()
    app.router.add_post("/{path:.*}", state.handle)
    async with serve_app(app) as state.base_url:
        try:
            yield state
        finally:
            state.gate.set()


async def add_rule(db: asyncpg.Connection, url: str, max_retries: int) -> UUID:
    owner = await db.fetchval("insert into auth.users (id, email) values (gen_random_uuid(), 'o@example.com')"
                              " returning id")
    funnel = await db.fetchval("insert into funnels (owner_id, name, status) values ($1, 'f', 'active') returning id",
                               owner)
    rule: UUID = await db.fetchval(
        "insert into routing_rules (funnel_id, client_name, webhook_url, condition, is_active)"
        " values ($1, 'Client', $2, '{}', true) returning id", funnel, url)
    await db.execute("select public.update_webhook_config($1, $2::jsonb)", rule,
                     json.dumps({"max_retries": max_retries}))
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, $2::int)",
                     funnel, LEADS)
    return rule


async def summary_snapshot(store: DirectStore) -> QueueSnapshot:
    rows = await store.queue_summary()
    return QueueSnapshot({str(r["status"]): int(r["deliveries"]) for r in rows}, None)


async def scrape(server: Server) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as response:
        text = await response.text()
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series[name] = float(value)
    return series


async def until(check: Callable[[], Awaitable[bool]], what: str, limit_s: float = 30.0) -> None:
    """Wait for a condition the run must reach; the limit only bounds a hung test."""
    try:
        async with asyncio.timeout(limit_s):
            while not await check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never reached: {what}") from None


async def test_metrics_scraped_during_a_run_move_as_deliveries_happen(
    db: asyncpg.Connection, db_dsn: str, receiver: GatedReceiver,
) -> None:
    await add_rule(db, f"{receiver.base_url}/ok", max_retries=3)
    await add_rule(db, f"{receiver.base_url}/broken", max_retries=0)
    metrics = Metrics()
    store = await DirectStore.connect(db_dsn)
    server = await serve(metrics, "127.0.0.1", 0, queue_snapshot=lambda: summary_snapshot(store),
                         refresh_interval_s=0.05)
    options = WorkerOptions(worker_id="metrics-run", poll_interval_s=0.05, shutdown_grace_s=5.0)
    try:
        async with Deliverer(allow_private_targets=True) as deliverer:
            worker = Worker(store, deliverer, options, FanOut(metrics, AttemptLog()))
            running = asyncio.create_task(worker.run())
            try:
                await exercise(server, receiver)
            finally:
                worker.stop()
                await running
    finally:
        await server.close()
        await store.close()


async def exercise(server: Server, receiver: GatedReceiver) -> None:
    async def all_arrived() -> bool:
        return receiver.arrived == 2 * LEADS

    await until(all_arrived, "every delivery reached the receiver")
    during = await scrape(server)
    assert during["webhook_attempts_in_flight"] == 2 * LEADS
    assert during["webhook_claim_batch_size_sum"] == 2 * LEADS
    assert during["webhook_claim_duration_seconds_count"] >= 1
    assert during.get('webhook_attempts_total{error_type="none",outcome="success",status="success"}', 0) == 0

    async def processing_seen() -> bool:
        return (await scrape(server)).get('webhook_queue_depth{status="processing"}') == 2 * LEADS

    await until(processing_seen, "the queue gauge shows the claimed deliveries")

    receiver.gate.set()

    async def all_recorded() -> bool:
        series = await scrape(server)
        return (series.get("webhook_record_batch_size_sum") == 2 * LEADS
                and series.get('webhook_queue_depth{status="completed"}') == LEADS
                and series.get('webhook_queue_depth{status="failed"}') == LEADS)

    await until(all_recorded, "every result recorded and the queue gauges refreshed")
    after = await scrape(server)
    assert after["webhook_attempts_in_flight"] == 0
    assert after['webhook_attempts_total{error_type="none",outcome="success",status="success"}'] == LEADS
    assert after['webhook_attempts_total{error_type="http_error",outcome="failure",status="failed"}'] == LEADS
    assert after['webhook_deliveries_finished_total{result="completed"}'] == LEADS
    assert after['webhook_deliveries_finished_total{result="failed"}'] == LEADS
    assert after['webhook_attempt_duration_seconds_count{outcome="success"}'] == LEADS
    assert after["webhook_database_up"] == 1
    assert after['webhook_queue_depth{status="processing"}'] == 0
