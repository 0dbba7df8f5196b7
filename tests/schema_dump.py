"""The schema as the migrations leave it, in one file a reviewer can read: supabase/schema.sql.

`pg_dump --schema-only` of a database that has the Supabase bootstrap and every
migration, limited to the schemas this project owns. tests/db/test_schema_file.py
fails when the file and the migrations disagree; `scripts/dump_schema.py` rewrites it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sidecar.ops.embedded import find_bin_dir

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "supabase" / "schema.sql"
OWNED_SCHEMAS = ("public", "webhooks_private")
HEADER = (
    "-- The schema as supabase/migrations leave it: generated, never edited by hand.\n"
    "-- Regenerate with `.venv/bin/python scripts/dump_schema.py`;\n"
    "-- tests/db/test_schema_file.py checks it against the migrations.\n"
)


def dump_schema(dsn: str) -> str:
    """The owned schemas of the database at `dsn`, without the lines that vary between dumps."""
    schemas = [arg for name in OWNED_SCHEMAS for arg in ("--schema", name)]
    out = subprocess.run(
        [str(find_bin_dir() / "pg_dump"), "--schema-only", "--no-owner", *schemas, dsn],
        capture_output=True, text=True, check=True,
    ).stdout
    return HEADER + "\n".join(_stable_lines(out)) + "\n"


def _stable_lines(text: str) -> list[str]:
    kept = [line for line in text.splitlines() if not _varies(line)]
    while kept and not kept[-1].strip():
        kept.pop()
    return kept


def _varies(line: str) -> bool:
    """Version banners and session settings say nothing about the schema."""
    return (line.startswith("-- Dumped ") or line.startswith("SET ")
            or line.startswith("SELECT pg_catalog.set_config(")
            or line.startswith("\\restrict") or line.startswith("\\unrestrict"))
