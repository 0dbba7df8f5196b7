"""Query-plan regression of API v1's log pages: a page of one rule is a range read of its index.

Like tests/perf/test_query_plans.py: a clone filled with enough rows for the planner to
prefer the index, the real function run once as a signed-in owner with auto_explain
logging the plans of the statements inside it, no timings asserted.
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from tests.perf.test_query_plans import AUTO_EXPLAIN, LOG_ROWS, LOG_ROWS_SQL, _all_nodes, _index_scans, _seq_scans, _tenant

PAGE_INDEX = "webhook_logs_routing_rule_id_created_at_id_idx"


async def _plans_as_owner(db: asyncpg.Connection, owner: uuid.UUID, sql: str, *args: object) -> list[dict]:
    notices: list[str] = []
    db.add_log_listener(lambda _c, m: notices.append(str(m.message)))
    tx = db.transaction()
    await tx.start()
    try:
        for setting in AUTO_EXPLAIN:
            await db.execute(setting)
        await db.execute("select set_config('role', 'authenticated', true),"
                         " set_config('request.jwt.claims', $1, true)",
                         json.dumps({"sub": str(owner), "role": "authenticated"}))
        rows = await db.fetch(sql, *args)
    finally:
        await tx.rollback()
    assert rows, "the page was empty: the test data did not land"
    return [json.loads(text[text.index("{"):]) for text in notices if "{" in text]


async def test_a_cursor_page_of_one_rule_reads_its_keyset_index(db: asyncpg.Connection) -> None:
    funnel, rule_ids = await _tenant(db, rules=50)
    owner = await db.fetchval("select owner_id from funnels where id = $1", funnel)
    lead = await db.fetchval("insert into public.leads (funnel_id) values ($1) returning id", funnel)
    # The busy rules' attempts must not stand between a quiet rule and its page.
    await db.execute(LOG_ROWS_SQL, lead, rule_ids[1:], LOG_ROWS)
    await db.execute(LOG_ROWS_SQL, lead, rule_ids[:1], LOG_ROWS // 100)
    await db.execute("analyze public.webhook_logs")
    middle = await db.fetchrow("select created_at, id from webhook_logs where routing_rule_id = $1"
                               " order by created_at desc, id desc offset 200 limit 1", rule_ids[0])

    for args in ((None, None), (middle["created_at"], middle["id"])):
        plans = await _plans_as_owner(
            db, owner, "select * from api_webhook_log_page($1, null, null, null, 50, $2, $3)", rule_ids[0], *args)
        nodes = _all_nodes(plans)
        assert PAGE_INDEX in _index_scans(nodes), f"the page did not use {PAGE_INDEX}: {_index_scans(nodes)}"
        assert not _seq_scans(nodes, "webhook_logs"), "the page scanned the whole webhook_logs"
        assert not [n for n in nodes if n["Node Type"] == "Sort" and "created_at" in str(n.get("Sort Key"))], \
            "the page sorted the logs instead of reading them in index order"
