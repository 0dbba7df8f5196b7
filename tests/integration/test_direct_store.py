"""The direct transport: NOTIFY wake-ups, a LISTEN that survives a server restart, error translation."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from sidecar.ops.embedded import LocalCluster
from sidecar.store import MissingFunctionError, RejectedError, TransientStoreError
from sidecar.store.direct import DirectStore
from tests.integration.support import insert_lead, make_rule


async def test_a_lead_insert_wakes_a_waiting_worker(db: asyncpg.Connection, store: DirectStore) -> None:
    rule = await make_rule(db, "https://example.com/hook")
    wake = asyncio.Event()
    await store.listen(wake.set)
    assert wake.is_set()  # a fresh listener looks for work once: what was announced before is gone
    wake.clear()

    await insert_lead(db, rule.funnel_id)

    async with asyncio.timeout(10):
        await wake.wait()


async def test_listening_again_is_free_and_the_last_callback_is_the_one_woken(
    db: asyncpg.Connection, store: DirectStore
) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    await store.listen(first.set)
    first.clear()
    await store.listen(second.set)
    assert not second.is_set()  # still listening: no extra look for work

    await db.execute("notify webhook_jobs")

    async with asyncio.timeout(10):
        await second.wait()
    assert not first.is_set()


async def test_the_listener_comes_back_after_the_server_restarts(
    pg_cluster: LocalCluster, db_dsn: str
) -> None:
    store = await DirectStore.connect(db_dsn)
    wake = asyncio.Event()
    try:
        await store.listen(wake.set)
        await asyncio.to_thread(pg_cluster.restart)
        async with asyncio.timeout(30):
            while True:  # the pool's connections died with the server; calls recover by retrying
                try:
                    await store.queue_summary()
                    break
                except TransientStoreError:
                    await asyncio.sleep(0.1)
            wake.clear()
            while not wake.is_set():  # reconnects the listener once it sees the old one closed
                await store.listen(wake.set)
                await asyncio.sleep(0.05)
            wake.clear()
            conn = await asyncpg.connect(db_dsn)
            await conn.execute("notify webhook_jobs")
            await conn.close()
            await wake.wait()
    finally:
        await store.close()


async def test_connections_the_server_terminated_are_replaced(db_dsn: str) -> None:
    store = await DirectStore.connect(db_dsn)
    try:
        admin = await asyncpg.connect(db_dsn)
        await admin.execute("select pg_terminate_backend(pid) from pg_stat_activity"
                            " where datname = current_database() and pid <> pg_backend_pid()")
        await admin.close()
        await asyncio.sleep(0.1)  # let the termination notices arrive
        assert len(await store.queue_summary()) == 4
    finally:
        await store.close()


async def test_a_refusal_keeps_the_databases_message(db: asyncpg.Connection, store: DirectStore) -> None:
    with pytest.raises(RejectedError, match="not found"):
        await store.replay(uuid.uuid4())


async def test_missing_functions_say_to_migrate(db: asyncpg.Connection, store: DirectStore) -> None:
    await db.execute("drop function public.webhook_queue_summary()")

    with pytest.raises(MissingFunctionError, match="db migrate"):
        await store.queue_summary()


async def test_claim_and_release_round_trip(db: asyncpg.Connection, store: DirectStore) -> None:
    rule = await make_rule(db, "https://example.com/hook", timeout_ms=2500, custom_headers={"X-A": "1"})
    await insert_lead(db, rule.funnel_id)

    [job] = await store.claim("w-1", 10, 60)
    released = await store.release([job.queue_id])

    assert (job.routing_rule_id, job.timeout_ms, job.custom_headers) == (rule.id, 2500, {"X-A": "1"})
    assert job.signing_secret.startswith("whsec_") and job.attempt_number == 1
    assert released == 1
    assert await db.fetchval("select status from webhook_queue") == "pending"


async def test_jsonb_round_trips_what_the_fast_encoder_refuses(db_dsn: str) -> None:
    # orjson refuses integers over 64 bits and lone surrogates; the fallback writes both.
    store = await DirectStore.connect(db_dsn)
    try:
        async with store._pool.acquire() as conn:
            big = await conn.fetchval("select $1::jsonb", {"n": 2**70, "f": 1.5})
            surrogate = await conn.fetchval("select $1::jsonb", {"s": "a\ud800b"})
            read_back = await conn.fetchval("select '{\"n\": 123456789012345678901234567890}'::jsonb")
    finally:
        await store.close()
    assert big == {"n": 2**70, "f": 1.5}
    assert surrogate == {"s": "a?b"}
    assert read_back == {"n": 123456789012345678901234567890}  # decoded exactly, not as a float


async def test_claim_rows_become_the_same_jobs_as_through_the_generic_conversion(
    db: asyncpg.Connection, db_dsn: str
) -> None:
    from dataclasses import replace

    from sidecar.store import job_from_row
    from sidecar.store.direct import _init_connection, _job_from_record

    rule = await make_rule(db, "https://example.com/hook", custom_headers={"X-Api": "k"}, retry_backoff_multiplier=1.5)
    await insert_lead(db, rule.funnel_id)
    conn = await asyncpg.connect(db_dsn)
    try:
        await _init_connection(conn)
        [row] = await conn.fetch("select * from public.claim_webhook_jobs('w', 10, 60)")
    finally:
        await conn.close()

    fast, generic = _job_from_record(row, 1.0), replace(job_from_row(row), received_at=1.0)
    assert fast == generic
    assert fast.custom_headers == {"X-Api": "k"} and fast.retry_backoff_multiplier == 1.5
