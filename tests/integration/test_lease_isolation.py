"""Leases per delivery: one rule's long timeout does not lengthen crash recovery for the others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from sidecar.domain import Job, Outcome
from sidecar.store.direct import DirectStore
from sidecar.worker.loop import Worker
from tests.integration.support import insert_lead, make_rule, options


class Hangs:
    """An attempter whose attempts never end: from the database's side, a worker that died mid-attempt."""

    def __init__(self) -> None:
        self.started: set[uuid.UUID] = set()

    async def attempt(self, job: Job) -> Outcome:
        self.started.add(job.queue_id)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class ClaimsOnce:
    """The real store, except that after its first claim the worker finds nothing more, as a dead one would."""

    def __init__(self, store: DirectStore) -> None:
        self._store = store
        self._claimed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def claim(
        self, worker_id: str, max_jobs: int, lease_seconds: int, queue_ids: Sequence[uuid.UUID] | None = None
    ) -> list[Job]:
        if self._claimed:
            return []
        jobs = await self._store.claim(worker_id, max_jobs, lease_seconds, queue_ids)
        self._claimed = bool(jobs)
        return jobs


async def _queue_id(db: asyncpg.Connection, rule_id: uuid.UUID) -> uuid.UUID:
    return await db.fetchval("select id from webhook_queue where routing_rule_id = $1", rule_id)


async def test_a_stuck_workers_short_timeout_delivery_returns_after_the_lease_despite_a_300_s_timeout_rule(
    db: asyncpg.Connection, store: DirectStore
) -> None:
    long_rule = await make_rule(db, "http://127.0.0.1:9/long", timeout_ms=300_000)
    short_rule = await make_rule(db, "http://127.0.0.1:9/short", timeout_ms=1_000)
    await insert_lead(db, long_rule.funnel_id)
    await insert_lead(db, short_rule.funnel_id)
    long_id, short_id = await _queue_id(db, long_rule.id), await _queue_id(db, short_rule.id)
    attempts = Hangs()
    worker = Worker(ClaimsOnce(store), attempts, options(lease_seconds=7, shutdown_grace_s=0.1))  # type: ignore[arg-type]
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while attempts.started != {long_id, short_id}:
                await asyncio.sleep(0.02)
        leases = dict(await db.fetch(
            "select id, extract(epoch from lease_expires_at - now()) from webhook_queue"))
        await asyncio.sleep(7.2)
        again = await db.fetch("select queue_id from claim_webhook_jobs('rescuer', 10, 30)")
    finally:
        worker.stop()
        await running

    assert 0 < leases[short_id] <= 7
    assert leases[long_id] >= 300
    assert [row["queue_id"] for row in again] == [short_id]
