"""Fixtures for the database tests: two funnel owners with a rule each, and role switching."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest

OWNER_A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
OWNER_B = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


@dataclass(frozen=True)
class World:
    funnel_a: uuid.UUID
    rule_a: uuid.UUID
    funnel_b: uuid.UUID
    rule_b: uuid.UUID


async def add_owner(db: asyncpg.Connection, owner: uuid.UUID) -> None:
    await db.execute(
        "insert into auth.users (id, email) values ($1, $2) on conflict (id) do nothing",
        owner, f"{owner}@example.com",
    )


async def add_funnel(db: asyncpg.Connection, owner: uuid.UUID, status: str = "active") -> uuid.UUID:
    return await db.fetchval(
        "insert into funnels (owner_id, name, status) values ($1, 'funnel', $2) returning id", owner, status
    )


async def add_rule(
    db: asyncpg.Connection,
    funnel: uuid.UUID,
    condition: dict | None = None,
    *,
    active: bool = True,
    url: str = "https://example.com/hook",
    client: str = "Client",
) -> uuid.UUID:
    return await db.fetchval(
        "insert into routing_rules (funnel_id, client_name, webhook_url, condition, is_active)"
        " values ($1, $2, $3, $4::jsonb, $5) returning id",
        funnel, client, url, json.dumps(condition or {}), active,
    )


async def add_lead(db: asyncpg.Connection, funnel: uuid.UUID, data: dict | None = None) -> uuid.UUID:
    return await db.fetchval(
        "insert into leads (funnel_id, data) values ($1, $2::jsonb) returning id", funnel, json.dumps(data or {})
    )


@pytest.fixture
async def world(db: asyncpg.Connection) -> World:
    """Owner A and owner B, each with an active funnel and one catch-all rule."""
    await add_owner(db, OWNER_A)
    await add_owner(db, OWNER_B)
    funnel_a = await add_funnel(db, OWNER_A)
    funnel_b = await add_funnel(db, OWNER_B)
    return World(funnel_a, await add_rule(db, funnel_a), funnel_b, await add_rule(db, funnel_b))


@asynccontextmanager
async def acting_as(
    db: asyncpg.Connection, role: str, sub: uuid.UUID | None = None, headers: dict | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction run the way PostgREST runs a request: `set local role` plus JWT claims."""
    claims: dict[str, str] = {"role": role}
    if sub is not None:
        claims["sub"] = str(sub)
    async with db.transaction():
        await db.execute(f"set local role {role}")
        await db.execute("select set_config('request.jwt.claims', $1, true)", json.dumps(claims))
        if headers is not None:
            await db.execute("select set_config('request.headers', $1, true)", json.dumps(headers))
        yield db


async def claim(db: asyncpg.Connection, worker: str, max_jobs: int = 10, lease_seconds: int = 30) -> list:
    return await db.fetch("select * from claim_webhook_jobs($1, $2, $3)", worker, max_jobs, lease_seconds)


def result(job, worker: str, *, success: bool, retry_in_ms: int | None = None,
           error_type: str | None = None, status: int | None = None, duration_ms: int = 10,
           attempt_number: int | None = None) -> dict:
    """One element of record_webhook_attempts(results) for a claimed job."""
    return {
        "queue_id": str(job["queue_id"]),
        "worker_id": worker,
        "attempt_number": attempt_number if attempt_number is not None else job["attempt_number"],
        "webhook_url": job["webhook_url"],
        "request_headers": {"Content-Type": "application/json", "Authorization": "***"},
        "response_status": status if status is not None else (200 if success else 500),
        "response_headers": {"content-type": "text/plain"},
        "response_body": "ok" if success else "boom",
        "duration_ms": duration_ms,
        "success": success,
        "error_type": None if success else (error_type or "http_error"),
        "error_message": None if success else "HTTP 500: Internal Server Error",
        "retry_in_ms": retry_in_ms,
    }


async def record(db: asyncpg.Connection, results: list[dict]) -> list:
    return await db.fetch("select * from record_webhook_attempts($1::jsonb)", json.dumps(results))
