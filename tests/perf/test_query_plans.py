"""Query-plan regression: the claim and stats paths keep reading through their indexes.

A lost or mismatched index does not break any functional test; it turns a 1 ms claim
into a scan of the whole queue once the table is large. These tests fill a clone with
enough rows for the planner to prefer the indexes (and ANALYZE it), run the real SQL
functions once with auto_explain logging the plans of the statements inside them at
NOTICE level, and inspect those plans. No timings are asserted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg

from tests.db.conftest import result

CLAIM_INDEX = "webhook_queue_claim_idx"
STATS_INDEX = "webhook_logs_routing_rule_id_created_at_id_idx"  # supabase/migrations/20261202120000_http_api.sql
ROLLUP_INDEX = "webhook_stats_hourly_pkey"
QUEUE_ROWS = 20_000
LOG_RULES = 50
LOG_ROWS = 40_000

AUTO_EXPLAIN = (
    "load 'auto_explain'",
    "set auto_explain.log_min_duration = 0",
    "set auto_explain.log_nested_statements = on",
    "set auto_explain.log_format = json",
    "set auto_explain.log_level = notice",
)

LEAD_ROWS = """
insert into public.leads (funnel_id, data)
select $1, jsonb_build_object('email', 'lead' || i || '@example.com', 'n', i)
from generate_series(1, $2::int) as g(i)
"""
# Busy hours around the start of a 30-day window: the partial first hour, which stats
# read from the logs, holds thousands of attempts of all rules, as it does at scale.
LOG_BURST_SQL = """
insert into public.webhook_logs
  (lead_id, routing_rule_id, webhook_url, response_status, duration_ms, status, created_at)
select $1, ($2::uuid[])[1 + (i % cardinality($2::uuid[]))], 'http://127.0.0.1/hook', 200, 5 + i % 50,
       'success', now() - interval '30 days 1 hour' + i * (interval '2 hours' / $3::int)
from generate_series(1, $3::int) as g(i)
"""
LOG_BURST_ROWS = 20_000
LOG_ROWS_SQL = """
insert into public.webhook_logs
  (lead_id, routing_rule_id, webhook_url, response_status, duration_ms, status, created_at)
select $1, ($2::uuid[])[1 + (i % cardinality($2::uuid[]))], 'http://127.0.0.1/hook', 200, 5 + i % 50,
       'success', now() - interval '60 days' + i * (interval '60 days' / $3::int)
from generate_series(1, $3::int) as g(i)
"""


async def _tenant(db: asyncpg.Connection, rules: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    owner = uuid.uuid4()
    await db.execute("insert into auth.users (id, email) values ($1, 'owner@example.com')", owner)
    funnel = await db.fetchval(
        "insert into public.funnels (owner_id, name, status) values ($1, 'Plans', 'active') returning id", owner)
    rule_ids = [
        await db.fetchval(
            "insert into public.routing_rules (funnel_id, client_name, webhook_url)"
            " values ($1, $2, 'http://127.0.0.1:9/hook') returning id", funnel, f"Client {n}")
        for n in range(rules)
    ]
    return funnel, rule_ids


async def _nested_plans(db: asyncpg.Connection, sql: str, *args: object,
                        settings: tuple[str, ...] = AUTO_EXPLAIN) -> list[dict[str, Any]]:
    """Run `sql` in a rolled-back transaction; the JSON plan of every statement it ran."""
    notices: list[str] = []

    def collect(_conn: object, message: asyncpg.PostgresLogMessage) -> None:
        notices.append(str(message.message))

    tx = db.transaction()
    await tx.start()
    try:
        for setting in settings:
            await db.execute(setting)
        db.add_log_listener(collect)
        await db.fetch(sql, *args)
    finally:
        db.remove_log_listener(collect)
        await tx.rollback()
    return [json.loads(text[text.index("{"):]) for text in notices if "{" in text]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _all_nodes(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [node for plan in plans for node in _nodes(plan["Plan"])]


def _index_scans(nodes: list[dict[str, Any]]) -> set[str]:
    return {str(n["Index Name"]) for n in nodes if "Index Name" in n}


def _seq_scans(nodes: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    return [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table]


async def test_claim_reads_due_deliveries_through_the_partial_claim_index(db: asyncpg.Connection) -> None:
    funnel, _ = await _tenant(db, rules=1)
    await db.execute(LEAD_ROWS, funnel, QUEUE_ROWS)  # the enqueue trigger writes one delivery per lead
    await db.execute("analyze public.webhook_queue")

    plans = await _nested_plans(db, "select * from public.claim_webhook_jobs('plans', 50, 60)")
    nodes = _all_nodes(plans)

    assert CLAIM_INDEX in _index_scans(nodes), f"claim did not use {CLAIM_INDEX}: {_index_scans(nodes)}"
    assert not _seq_scans(nodes, "webhook_queue"), "claim scanned the whole webhook_queue"


async def test_claim_with_most_rules_held_reads_no_held_row(db: asyncpg.Connection) -> None:
    funnel, rule_ids = await _tenant(db, rules=4)
    # Held rows are enqueued first (oldest), so an index that kept them would walk them all.
    for rule in rule_ids[1:]:
        await db.execute("update public.routing_rules set is_active = (id = $1) where funnel_id = $2", rule, funnel)
        await db.execute(LEAD_ROWS, funnel, QUEUE_ROWS // 4)
    await db.execute("update public.routing_rules set is_active = (id = $1) where funnel_id = $2", rule_ids[0], funnel)
    await db.execute("select update_webhook_config(id, '{\"paused\": true}') from public.routing_rules"
                     " where id <> $1", rule_ids[0])
    await db.execute("update public.routing_rules set is_active = true where funnel_id = $1", funnel)
    await db.execute(LEAD_ROWS, funnel, 100)  # one delivery per rule and lead; only rule 0's are due
    await db.execute("analyze public.webhook_queue")
    held = await db.fetchval("select count(*) from public.webhook_queue where held")
    assert held >= QUEUE_ROWS // 2

    analyzed = AUTO_EXPLAIN + ("set auto_explain.log_analyze = on", "set auto_explain.log_timing = off")
    plans = await _nested_plans(db, "select * from public.claim_webhook_jobs('plans', 50, 60)", settings=analyzed)
    nodes = _all_nodes(plans)

    claim_scans = [n for n in nodes if n.get("Index Name") == CLAIM_INDEX]
    assert claim_scans, f"claim did not use {CLAIM_INDEX}: {_index_scans(nodes)}"
    assert not _seq_scans(nodes, "webhook_queue"), "claim scanned the whole webhook_queue"
    # Every row the claim index gave was taken: no held row was read and filtered out.
    assert all(n.get("Rows Removed by Filter", 0) == 0 and n["Actual Rows"] <= 50 for n in claim_scans)
    predicate = await db.fetchval("select pg_get_indexdef($1::regclass)", f"public.{CLAIM_INDEX}")
    assert "NOT held" in predicate


async def test_stats_read_one_rule_window_through_the_rollup_and_logs_indexes(db: asyncpg.Connection) -> None:
    funnel, rule_ids = await _tenant(db, rules=LOG_RULES)
    lead = await db.fetchval("insert into public.leads (funnel_id) values ($1) returning id", funnel)
    await db.execute(LOG_ROWS_SQL, lead, rule_ids, LOG_ROWS)
    await db.execute(LOG_BURST_SQL, lead, rule_ids, LOG_BURST_ROWS)
    await db.execute("analyze public.webhook_logs, public.webhook_stats_hourly")

    plans = await _nested_plans(db, "select * from public.get_webhook_stats($1, 30)", rule_ids[0])
    nodes = _all_nodes(plans)

    # Whole hours come from the rollup, the partial first hour from the logs.
    assert ROLLUP_INDEX in _index_scans(nodes), f"stats did not use {ROLLUP_INDEX}: {_index_scans(nodes)}"
    assert not _seq_scans(nodes, "webhook_stats_hourly"), "stats scanned the whole webhook_stats_hourly"
    assert STATS_INDEX in _index_scans(nodes), f"stats did not use {STATS_INDEX}: {_index_scans(nodes)}"
    assert not _seq_scans(nodes, "webhook_logs"), "stats scanned the whole webhook_logs"


async def test_the_hold_triggers_never_scan_the_whole_queue(db: asyncpg.Connection) -> None:
    funnel, rule_ids = await _tenant(db, rules=2)
    await db.execute(LEAD_ROWS, funnel, QUEUE_ROWS // 2)
    await db.execute("select update_webhook_config($1, '{\"paused\": true}')", rule_ids[1])
    await db.execute("analyze public.webhook_queue")

    inserted = await _nested_plans(db, LEAD_ROWS, funnel, 50)  # enqueue: new rows of a held rule get held
    claimed = await _nested_plans(db, "select * from public.claim_webhook_jobs('plans', 50, 60)")
    released = await _nested_plans(db, "select update_webhook_config($1, '{\"paused\": false}')", rule_ids[1])
    jobs = await db.fetch("select * from public.claim_webhook_jobs('plans', 50, 60)")
    failures = [result(job, "plans", success=False) for job in jobs]  # final: events and streaks
    recorded = await _nested_plans(db, "select * from public.record_webhook_attempts($1::jsonb)", json.dumps(failures))

    for plans in (inserted, claimed, released, recorded):
        scanned = [p["Query Text"][:120] for p in plans if _seq_scans(list(_nodes(p["Plan"])), "webhook_queue")]
        assert not scanned, f"a hold trigger scanned the whole webhook_queue: {scanned}"
