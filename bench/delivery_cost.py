"""Claim and record CPU per delivery with one migration against the schema without it.

    .venv/bin/python bench/delivery_cost.py supabase/migrations/<file>.sql [--rounds 3]
        [--deliveries 6000] [--claim-batch 47] [--record-batch 100]

The template database gets every migration older than the given one; bench/scenarios/
recordcosts.py then measures what-if clones of it, interleaved: the schema without the
migration (the first row, absolute), with it, and with it less one of its parts (a
section of the file, or one text change), plus request_body storage options on top.
Each row is its median over the rounds less the first row's. Run under the lock:
`flock /work/bench.lock .venv/bin/python bench/delivery_cost.py …`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from scenarios import recordcosts  # noqa: E402
from scenarios.common import TEMPLATE, Bench, pg, throwaway_cluster  # noqa: E402

from sidecar.ops import migrate  # noqa: E402

MIGRATIONS = BENCH_DIR.parent / "supabase" / "migrations"
SECTION = re.compile(r"^-- =+\n-- (\d+)\. ", re.M)

# What the sidecar sends for a ~1 KB lead to nginx (sidecar/delivery/attempt.py's headers,
# nginx's answer), as in the user path's log rows.
TEMPLATE_RESULT = recordcosts.Template(
    request_headers={"Content-Type": "application/json", "User-Agent": "BPC-Funnels/2.0",
                     "X-Funnel-Webhook": "true", "webhook-timestamp": "1796212345",
                     "webhook-signature": "v1,6b0WqgPKNQf5o1Gm1+yqTXjAsFvxQbE1GU5KmAx2ybI="},
    response_headers={"Server": "nginx/1.22.1", "Date": "Thu, 03 Dec 2026 13:00:00 GMT",
                      "Content-Type": "application/octet-stream", "Content-Length": "2",
                      "Connection": "keep-alive"},
    response_body="ok", duration_ms=1)

# record's argument read as before 20261203120000: one jsonb_to_record per element.
PER_ELEMENT_INPUT = """with input as (
    select x.*, e.ord
    from jsonb_array_elements(record_webhook_attempts.results) with ordinality as e(elem, ord)
    cross join lateral jsonb_to_record(e.elem) as x(
      queue_id uuid, worker_id text, attempt_number integer, webhook_url text, request_headers jsonb,
      response_status integer, response_headers jsonb, response_body text, duration_ms integer,
      success boolean, error_type public.webhook_error_type, error_message text, retry_in_ms numeric,
      log_id uuid, first_send boolean, status text)
  ),
  -- Lock in id order"""


def sections(sql: str) -> dict[int, tuple[int, int]]:
    """Each numbered section's span in the migration's text (to the next one or the end)."""
    found = [(int(m.group(1)), m.start()) for m in SECTION.finditer(sql)]
    return {n: (start, found[i + 1][1] if i + 1 < len(found) else len(sql)) for i, (n, start) in enumerate(found)}


def without_section(sql: str, number: int) -> str:
    start, end = sections(sql)[number]
    return sql[:start] + sql[end:]


def replaced(sql: str, old: str, new: str) -> str:
    if old not in sql:
        raise SystemExit(f"the migration no longer has {old[:60]!r}")
    return sql.replace(old, new)


def per_element_input(sql: str) -> str:
    start = sql.index("with input as (")
    end = sql.index("-- Lock in id order", start) + len("-- Lock in id order")
    return sql[:start] + PER_ELEMENT_INPUT + sql[end:]


def variants(sql: str) -> tuple[recordcosts.WhatIf, ...]:
    parts = sections(sql)
    change: list[tuple[str, Callable[[str], str]]] = [
        ("… but record reads its argument per element (jsonb_to_record)", per_element_input),
        ("… but first sends with ON CONFLICT too", lambda s: replaced(s, "v_plain boolean := true",
                                                                       "v_plain boolean := false")),
    ]
    if 1 in parts:
        change.append(("… but the two bookkeeping foreign keys kept (section 1 left out)",
                       lambda s: without_section(s, 1)))
    if 4 in parts:
        change.append(("… but the claim with synchronous_commit as the session has it (section 4 left out)",
                       lambda s: without_section(s, 4)))
    if 5 in parts:
        change.append(("… but request_body storage as before (section 5 left out)", lambda s: without_section(s, 5)))
    out = [recordcosts.WhatIf("without the migration"), recordcosts.WhatIf("with the migration", (sql,))]
    out += [recordcosts.WhatIf(name, (edit(sql),)) for name, edit in change]
    return tuple(out + storage_variants(sql)[1:])


def storage_variants(sql: str) -> list[recordcosts.WhatIf]:
    """The log row's storage: the migration without its section 5, then each option on top."""
    base = without_section(sql, 5) if 5 in sections(sql) else sql
    body = "alter table public.webhook_logs alter column request_body set"
    target = "alter table public.webhook_logs set (toast_tuple_target = 4080)"
    return [
        recordcosts.WhatIf("with the migration, request_body as before (storage extended, pglz)", (base,)),
        recordcosts.WhatIf("… storage main", (base, f"{body} storage main")),
        recordcosts.WhatIf("… compression lz4", (base, f"{body} compression lz4")),
        recordcosts.WhatIf("… toast_tuple_target = 4080", (base, target)),
        recordcosts.WhatIf("… toast_tuple_target = 4080, compression lz4", (base, target, f"{body} compression lz4")),
    ]


async def _template(bench: Bench, skip: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="delivery-cost-migrations-"))
    try:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.name < skip.name:
                shutil.copy(path, scratch / path.name)
        await pg.admin(bench.cluster, f"create database {TEMPLATE}")
        conn = await asyncpg.connect(bench.dsn(TEMPLATE))
        try:
            await migrate.bootstrap(conn)
            await migrate.migrate(conn, scratch)
        finally:
            await conn.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("migration", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=6_000)
    parser.add_argument("--claim-batch", type=int, default=47)
    parser.add_argument("--record-batch", type=int, default=100)
    parser.add_argument("--storage", action="store_true",
                        help="only the log row's storage options, against the migration without its section 5")
    args = parser.parse_args()
    sql = args.migration.read_text(encoding="utf-8")
    scratch = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    try:
        with throwaway_cluster("webhooks-bench-pg-") as cluster:
            bench = Bench(cluster=cluster, scratch=scratch, quick=False)
            asyncio.run(_template(bench, args.migration))
            tallies = asyncio.run(recordcosts.run_rounds(bench, TEMPLATE_RESULT, args.rounds, args.deliveries,
                                                         args.claim_batch, args.record_batch,
                                                         tuple(storage_variants(sql)) if args.storage
                                                         else variants(sql)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.deliveries:,} ~1 KB leads per clone, claims of {args.claim_batch}, records of "
          f"{args.record_batch} successes, {args.rounds} rounds:\n")
    print("\n".join(recordcosts.deltas(tallies)))


if __name__ == "__main__":
    main()
