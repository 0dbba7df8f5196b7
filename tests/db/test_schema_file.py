"""supabase/schema.sql is the schema the migrations build, so a reviewer reads the current state there."""

from __future__ import annotations

import difflib

from sidecar.ops.embedded import LocalCluster
from tests.schema_dump import SCHEMA_FILE, dump_schema


def test_schema_file_matches_the_migrations(pg_cluster: LocalCluster, template_db: str) -> None:
    built = dump_schema(pg_cluster.dsn(template_db))
    written = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    diff = "".join(difflib.unified_diff(
        written.splitlines(keepends=True), built.splitlines(keepends=True),
        "supabase/schema.sql", "migrations", n=1))
    assert not diff, (
        "supabase/schema.sql differs from what the migrations build; "
        "run `.venv/bin/python scripts/dump_schema.py` and review the change:\n" + diff[:4000])


def test_schema_file_holds_every_public_function(pg_cluster: LocalCluster, template_db: str) -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    for name in ("claim_webhook_jobs", "record_webhook_attempts", "replay_webhook", "get_webhook_stats"):
        assert f"FUNCTION public.{name}(" in text
