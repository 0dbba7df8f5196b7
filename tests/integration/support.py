"""Helpers of the integration tests: seed rows, running a worker; the receiver is tests/receiver.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from sidecar.delivery.attempt import Deliverer
from sidecar.worker.loop import RunSummary, Worker, WorkerOptions


@dataclass(frozen=True)
class Rule:
    id: uuid.UUID
    funnel_id: uuid.UUID


async def make_rule(db: asyncpg.Connection, url: str, condition: dict[str, Any] | None = None,
                    **config: Any) -> Rule:
    """An owner, an active funnel and an active rule to `url`; config columns set when given."""
    owner = await db.fetchval("insert into auth.users (id, email) values (gen_random_uuid(), 'o@example.com') returning id")
    funnel = await db.fetchval(
        "insert into public.funnels (owner_id, name, status) values ($1, 'Funnel', 'active') returning id", owner)
    rule = await db.fetchval(
        "insert into public.routing_rules (funnel_id, client_name, webhook_url, condition, is_active)"
        " values ($1, 'Client', $2, $3::jsonb, true) returning id",
        funnel, url, json.dumps(condition or {}))
    if config:
        await set_config(db, rule, **config)
    return Rule(rule, funnel)


async def set_config(db: asyncpg.Connection, rule_id: uuid.UUID, **config: Any) -> None:
    columns = list(config)
    values = [json.dumps(v) if k == "custom_headers" else v for k, v in config.items()]
    assignments = ", ".join(f"{c} = excluded.{c}" for c in columns)
    placeholders = ", ".join(f"${i + 2}" for i in range(len(columns)))
    await db.execute(
        f"insert into public.webhook_configs (routing_rule_id, {', '.join(columns)}) values ($1, {placeholders})"
        f" on conflict (routing_rule_id) do update set {assignments}",
        rule_id, *values)


async def insert_lead(db: asyncpg.Connection, funnel_id: uuid.UUID, data: dict[str, Any] | None = None) -> uuid.UUID:
    lead: uuid.UUID = await db.fetchval(
        "insert into public.leads (funnel_id, data) values ($1, $2::jsonb) returning id",
        funnel_id, json.dumps(data if data is not None else {"email": "lead@example.com"}))
    return lead


def options(**changes: Any) -> WorkerOptions:
    base: dict[str, Any] = {"worker_id": "test-worker", "poll_interval_s": 0.05, "shutdown_grace_s": 5.0}
    base.update(changes)
    return WorkerOptions(**base)


async def run_once(store: Any, max_response_bytes: int = 65536, **changes: Any) -> RunSummary:
    async with Deliverer(allow_private_targets=True, max_response_bytes=max_response_bytes) as deliverer:
        return await Worker(store, deliverer, options(**changes)).run(once=True)


async def run_until(store: Any, done: Callable[[], Awaitable[bool]], limit_s: float = 30.0,
                    **changes: Any) -> RunSummary:
    """Run the worker loop until `done()` is true (checked every 50 ms), then stop it gracefully."""
    async with Deliverer(allow_private_targets=True) as deliverer:
        worker = Worker(store, deliverer, options(**changes))
        running = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(limit_s):
                while not await done():
                    await asyncio.sleep(0.05)
        finally:
            worker.stop()
        return await running
