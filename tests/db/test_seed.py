"""supabase/seed.sql: a harmless demo that exercises the trigger when a lead arrives."""

from __future__ import annotations

from pathlib import Path

import asyncpg

SEED = Path(__file__).resolve().parents[2] / "supabase" / "seed.sql"


async def test_the_seed_applies_twice_and_routes_a_german_lead_to_both_rules(db: asyncpg.Connection) -> None:
    await db.execute(SEED.read_text())
    await db.execute(SEED.read_text())
    assert await db.fetchval("select count(*) from funnels where status = 'active'") == 1
    assert await db.fetchval("select count(*) from routing_rules where webhook_url like 'https://example.com/%'") == 2
    assert await db.fetchval("select count(*) from webhook_queue") == 0  # no leads, nothing sent

    await db.execute("insert into leads (funnel_id, data) select id, '{\"country\": \"DE\"}' from funnels")
    await db.execute("insert into leads (funnel_id, data) select id, '{\"country\": \"FR\"}' from funnels")
    assert await db.fetchval("select count(*) from webhook_queue") == 3
