"""The SQL in README.md runs as written against a migrated database."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest

DOC = Path(__file__).resolve().parents[2] / "README.md"
RULE = "5b1f0c8e-8f7a-4d43-9b5e-2f8a6c1d0e11"  # the rule id the examples use


def runnable_blocks() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    # Elided values ("…") are for people to fill in; cron.schedule needs pg_cron's own database.
    return [b for b in blocks if "…" not in b and "cron.schedule" not in b]


def test_the_doc_has_runnable_sql() -> None:
    assert len(runnable_blocks()) >= 8


@pytest.mark.parametrize("sql", runnable_blocks(), ids=lambda sql: sql.split("\n")[0][:40])
async def test_a_documented_query_runs(db: asyncpg.Connection, sql: str) -> None:
    owner = await db.fetchval("insert into auth.users (id, email) values (gen_random_uuid(), 'o@example.com')"
                              " returning id")
    funnel = await db.fetchval("insert into funnels (owner_id, name, status) values ($1, 'f', 'active') returning id",
                               owner)
    await db.execute("insert into routing_rules (id, funnel_id, client_name, webhook_url, condition, is_active)"
                     " values ($1, $2, 'Client', 'https://hooks.example.com/in', '{}', true)", RULE, funnel)
    await db.execute("insert into leads (funnel_id, data) values ($1, '{}')", funnel)
    await db.execute(sql)
