"""claim_webhook_jobs: leases, claim order, SKIP LOCKED between concurrent claimers."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.db.conftest import World, claim


async def _fill(db: asyncpg.Connection, world: World, n: int) -> None:
    await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, $2::int)", world.funnel_a, n)


async def test_two_concurrent_claimers_never_get_the_same_delivery(db_dsn: str, db: asyncpg.Connection,
                                                                     world: World) -> None:
    await _fill(db, world, 600)
    first, second = await asyncpg.connect(db_dsn), await asyncpg.connect(db_dsn)
    try:
        async def keep_claiming(conn: asyncpg.Connection, worker: str) -> list:
            got = []
            while batch := await claim(conn, worker, max_jobs=7):
                got += [row["queue_id"] for row in batch]
            return got

        a, b = await asyncio.gather(keep_claiming(first, "worker-a"), keep_claiming(second, "worker-b"))
    finally:
        await first.close()
        await second.close()

    assert len(a) + len(b) == 600
    assert len(set(a)) == len(a) and len(set(b)) == len(b)
    assert not set(a) & set(b)
    owners = await db.fetch("select locked_by, count(*) as n from webhook_queue group by 1")
    assert {r["locked_by"]: r["n"] for r in owners} == {"worker-a": len(a), "worker-b": len(b)}


async def test_a_locked_claim_in_flight_is_skipped_not_waited_for(db_dsn: str, db: asyncpg.Connection,
                                                                   world: World) -> None:
    await _fill(db, world, 3)
    other = await asyncpg.connect(db_dsn)
    try:
        async with other.transaction():
            held = await claim(other, "slow", max_jobs=2)
            # The other transaction still holds its row locks: this claim must not block.
            mine = await asyncio.wait_for(claim(db, "fast", max_jobs=10), timeout=5)
    finally:
        await other.close()
    assert len(held) == 2 and len(mine) == 1
    assert mine[0]["queue_id"] not in {r["queue_id"] for r in held}


async def test_claim_sets_the_lease_and_returns_the_documented_columns(db: asyncpg.Connection, world: World) -> None:
    await _fill(db, world, 1)
    [job] = await claim(db, "w1", lease_seconds=45)
    assert list(job.keys()) == [
        "queue_id", "webhook_id", "lead_id", "routing_rule_id", "attempt_number", "max_attempts", "payload",
        "webhook_url", "custom_headers", "timeout_ms", "retry_enabled", "retry_delay_ms",
        "retry_backoff_multiplier", "signing_secret", "claimed_at", "previous_signing_secret",
    ]
    assert job["attempt_number"] == 1 and job["max_attempts"] == 4
    assert job["timeout_ms"] == 10000 and job["retry_enabled"] is True
    assert job["retry_delay_ms"] == 1000 and float(job["retry_backoff_multiplier"]) == 2.0
    assert job["custom_headers"] == "{}" and job["signing_secret"].startswith("whsec_")
    assert job["webhook_id"] == job["queue_id"]
    assert job["claimed_at"] == await db.fetchval("select started_at from webhook_queue where id = $1",
                                                  job["queue_id"])
    row = await db.fetchrow(
        "select status, locked_by, started_at > now() - interval '1 minute' as started,"
        " extract(epoch from lease_expires_at - started_at) as lease from webhook_queue where id = $1",
        job["queue_id"],
    )
    assert row["status"] == "processing" and row["locked_by"] == "w1" and row["started"]
    assert row["lease"] == 45
    assert await claim(db, "w2") == []


async def test_claim_order_is_priority_then_oldest_and_skips_future_work(db: asyncpg.Connection,
                                                                        world: World) -> None:
    await _fill(db, world, 4)
    ids = [r["id"] for r in await db.fetch("select id from webhook_queue order by id")]
    await db.execute("update webhook_queue set scheduled_at = now() - interval '1 minute' where id = $1", ids[0])
    await db.execute("update webhook_queue set priority = 10 where id = $1", ids[1])
    await db.execute("update webhook_queue set scheduled_at = now() + interval '1 hour', priority = 99"
                     " where id = $1", ids[2])
    got = [r["queue_id"] for r in await claim(db, "w", max_jobs=10)]
    assert got == [ids[1], ids[0], ids[3]]


async def test_max_jobs_bounds_the_batch(db: asyncpg.Connection, world: World) -> None:
    await _fill(db, world, 5)
    assert len(await claim(db, "w", max_jobs=2)) == 2
    assert len(await claim(db, "w", max_jobs=2)) == 2
    assert len(await claim(db, "w", max_jobs=2)) == 1


async def test_the_claim_query_uses_the_partial_pending_index(db: asyncpg.Connection, world: World) -> None:
    await _fill(db, world, 2000)
    await db.execute("analyze webhook_queue")
    plan = await db.fetchval(
        "explain (format json) select q.id from public.webhook_queue q"
        " where q.status = 'pending' and not q.held and q.scheduled_at <= now()"
        " order by q.priority desc, q.scheduled_at limit 50 for update skip locked"
    )
    assert "webhook_queue_claim_idx" in plan
    assert '"Sort"' not in plan
