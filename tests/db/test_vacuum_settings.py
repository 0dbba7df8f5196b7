"""The queue and the logs carry the vacuum settings their write rates need."""

import asyncpg


async def options_of(db: asyncpg.Connection, table: str) -> dict[str, str]:
    raw = await db.fetchval("select reloptions from pg_class where oid = $1::regclass", table)
    return dict(option.split("=", 1) for option in raw or [])


async def test_the_queue_is_vacuumed_after_one_percent_changes_without_sleeps(db: asyncpg.Connection) -> None:
    options = await options_of(db, "public.webhook_queue")
    assert options["autovacuum_vacuum_scale_factor"] == "0.01"
    assert options["autovacuum_vacuum_insert_scale_factor"] == "0.01"
    assert options["autovacuum_vacuum_cost_delay"] == "0"


async def test_the_logs_are_vacuumed_after_two_percent_new_rows(db: asyncpg.Connection) -> None:
    options = await options_of(db, "public.webhook_logs")
    assert options["autovacuum_vacuum_insert_scale_factor"] == "0.02"
