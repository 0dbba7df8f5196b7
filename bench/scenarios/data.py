"""Data generators: tenants and rules, leads, due queue rows and attempt logs, in bulk.

Everything is set-based (`insert … select … generate_series`), so a million rows cost
seconds, not minutes. Generators that bypass the enqueue trigger or foreign-key
checks say so; the scenarios that need the real path insert leads normally.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

# A lead whose delivery payload is about 700 bytes, like a real form submission.
LEAD_DATA_SQL = """
jsonb_build_object(
  'email', 'lead' || i || '@example.com',
  'name', 'Ada Lovelace ' || i,
  'phone', '+44 20 7946 ' || lpad((i % 10000)::text, 4, '0'),
  'company', 'Analytical Engines Ltd',
  'message', 'Interested in the premium plan for our sales team of twelve; please call after 3pm '
             'on a weekday, or email with a quote and the onboarding timeline.',
  'utm', jsonb_build_object('source', 'newsletter', 'medium', 'email', 'campaign', 'spring-launch'),
  'consent', true)
"""

# A lead whose `data` is about 1 KB as JSON text: a full form submission with its answers and
# tracking fields, the size the user-path scenario (bench/scenarios/userpath.py) sends.
LEAD_KB_DATA_SQL = """
jsonb_build_object(
  'email', 'lead' || i || '@example.com',
  'name', 'Ada Lovelace ' || i,
  'phone', '+44 20 7946 ' || lpad((i % 10000)::text, 4, '0'),
  'company', 'Analytical Engines Ltd',
  'job_title', 'Head of Revenue Operations',
  'address', jsonb_build_object('line1', '12 Marylebone High Street', 'city', 'London',
                                'postcode', 'W1U 4NR', 'country', 'GB'),
  'message', 'Interested in the premium plan for our sales team of twelve; please call after 3pm '
             'on a weekday, or email with a quote and the onboarding timeline. We currently use '
             'spreadsheets and would like to import about 4,000 existing contacts.',
  'answers', jsonb_build_array(
    jsonb_build_object('question', 'How many seats do you need?', 'answer', '10-25'),
    jsonb_build_object('question', 'When do you want to start?', 'answer', 'Within a month'),
    jsonb_build_object('question', 'Which CRM do you use today?', 'answer', 'None')),
  'utm', jsonb_build_object('source', 'newsletter', 'medium', 'email', 'campaign', 'spring-launch',
                            'content', 'hero-cta', 'term', 'crm for small teams'),
  'page_url', 'https://www.example.com/pricing?plan=premium&utm_source=newsletter',
  'user_agent', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) '
                'Version/17.4 Safari/605.1.15',
  'ip', '203.0.113.' || (i % 250),
  'consent', true)
"""

INSERT_USER = """
insert into auth.users (id, aud, role, email, created_at)
values ($1, 'authenticated', 'authenticated', $2, now())
"""
INSERT_FUNNEL = "insert into public.funnels (owner_id, name, status) values ($1, $2, 'active') returning id"
INSERT_RULE = """
insert into public.routing_rules (funnel_id, client_name, webhook_url, condition, is_active)
values ($1, $2, $3, '{}'::jsonb, true) returning id
"""
INSERT_LEADS = f"""
insert into public.leads (funnel_id, data)
select $1, {LEAD_DATA_SQL} from generate_series(1, $2::int) as g(i)
"""
INSERT_KB_LEADS = f"""
insert into public.leads (funnel_id, data)
select $1, {LEAD_KB_DATA_SQL} from generate_series(1, $2::int) as g(i)
"""
# Bulk queue rows for the claim scenario: due now, in claim order by scheduled_at,
# spread over the given leads. The caller disables triggers and FK checks.
INSERT_DUE_QUEUE = """
insert into public.webhook_queue
  (webhook_id, lead_id, routing_rule_id, status, priority, attempt_number, max_attempts,
   scheduled_at, payload, created_at)
select gen_random_uuid(), ($2::uuid[])[1 + (i % cardinality($2::uuid[]))], $1, 'pending', 0, 1, 4,
       now() - interval '1 hour' + i * interval '1 millisecond', $3::jsonb,
       now() - interval '1 hour'
from generate_series($4::int, $5::int) as g(i)
"""
# Attempt logs for the stats scenario, appended in time order like real traffic:
# row i is at now() - span + i * step, for rule i % rules.
INSERT_LOGS = """
insert into public.webhook_logs
  (lead_id, routing_rule_id, webhook_url, request_headers, request_body, response_status,
   response_body, duration_ms, attempt_number, max_attempts, status, error_type, error_message, created_at)
select ($1::uuid[])[1 + (i % cardinality($1::uuid[]))], ($2::uuid[])[1 + (i % cardinality($2::uuid[]))],
       'http://127.0.0.1/hook',
       '{"Content-Type": "application/json", "User-Agent": "BPC-Funnels/2.0"}'::jsonb, null,
       case when i % 20 = 0 then 500 else 200 end,
       case when i % 20 = 0 then 'Internal Server Error' else '{"ok":true}' end,
       5 + (i % 200), 1, 4,
       (case when i % 20 = 0 then 'retrying' else 'success' end)::public.webhook_log_status,
       (case when i % 20 = 0 then 'http_error' end)::public.webhook_error_type,
       case when i % 20 = 0 then 'HTTP 500: Internal Server Error' end,
       now() - $3::interval + i * ($3::interval / $4::int)
from generate_series($5::int, $6::int) as g(i)
"""


@dataclass(frozen=True)
class Tenant:
    """One owner with one active funnel and its routing rules."""

    owner_id: uuid.UUID
    funnel_id: uuid.UUID
    rule_ids: list[uuid.UUID]


async def create_tenant(conn: asyncpg.Connection, url: str, rules: int = 1) -> Tenant:
    """An owner, an active funnel and `rules` active catch-all rules POSTing to `url`."""
    owner = uuid.uuid4()
    await conn.execute(INSERT_USER, owner, f"owner-{owner.hex[:8]}@example.com")
    funnel = await conn.fetchval(INSERT_FUNNEL, owner, "Bench funnel")
    rule_ids = [await conn.fetchval(INSERT_RULE, funnel, f"Client {n}", url) for n in range(rules)]
    return Tenant(owner, funnel, rule_ids)


async def insert_leads(conn: asyncpg.Connection, funnel_id: uuid.UUID, count: int,
                       insert_sql: str = INSERT_LEADS) -> float:
    """Insert `count` leads in one statement (the enqueue trigger runs); seconds taken."""
    started = time.perf_counter()
    await conn.execute(insert_sql, funnel_id, count)
    return time.perf_counter() - started


async def insert_leads_untriggered(conn: asyncpg.Connection, funnel_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """Leads without deliveries: session_replication_role=replica skips user triggers."""
    async with conn.transaction():
        await conn.execute("set local session_replication_role = replica")
        rows = await conn.fetch(INSERT_LEADS + " returning id", funnel_id, count)
    return [row["id"] for row in rows]


async def sample_payload(conn: asyncpg.Connection, tenant: Tenant, insert_sql: str = INSERT_LEADS) -> str:
    """The payload jsonb the trigger builds for one lead of this tenant (rolled back)."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(insert_sql, tenant.funnel_id, 1)
        text: str = await conn.fetchval(
            "select payload::text from public.webhook_queue where routing_rule_id = $1 limit 1",
            tenant.rule_ids[0])
        return text
    finally:
        await tx.rollback()


async def fill_due_queue(conn: asyncpg.Connection, tenant: Tenant, rows: int,
                         chunk: int = 250_000) -> None:
    """`rows` pending deliveries, all due, written directly (no trigger, no FK checks)."""
    leads = await insert_leads_untriggered(conn, tenant.funnel_id, min(rows, 1000))
    payload = await sample_payload(conn, tenant)
    await conn.execute("insert into public.webhook_configs (routing_rule_id) values ($1)"
                       " on conflict do nothing", tenant.rule_ids[0])
    for start in range(1, rows + 1, chunk):
        end = min(rows, start + chunk - 1)
        async with conn.transaction():
            await conn.execute("set local session_replication_role = replica")
            await conn.execute(INSERT_DUE_QUEUE, tenant.rule_ids[0], leads, payload, start, end)
    await conn.execute("vacuum analyze public.webhook_queue")


async def fill_logs(conn: asyncpg.Connection, tenant: Tenant, rows: int, span_days: int = 60,
                    chunk: int = 1_000_000) -> None:
    """`rows` attempt logs over the last `span_days`, spread evenly over the tenant's rules."""
    leads = await insert_leads_untriggered(conn, tenant.funnel_id, 1000)
    span = timedelta(days=span_days)
    for start in range(1, rows + 1, chunk):
        end = min(rows, start + chunk - 1)
        async with conn.transaction():
            await conn.execute("set local session_replication_role = replica")
            await conn.execute(INSERT_LOGS, leads, tenant.rule_ids, span, rows, start, end)
    # Replica mode skipped the stats rollup's triggers too: build it from the rows, as the migration does.
    await conn.execute("select public.webhook_stats_rebuild()")
    await conn.execute("vacuum analyze public.webhook_logs, public.webhook_stats_hourly")
