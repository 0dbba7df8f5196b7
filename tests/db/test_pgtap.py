"""The pgTAP suite in supabase/tests/database, run with pg_prove against a migrated clone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "supabase" / "tests" / "database").glob("*.test.sql"))


async def test_pgtap_files_pass_under_pg_prove(db_dsn: str, db: asyncpg.Connection) -> None:
    pg_prove = shutil.which("pg_prove")
    if pg_prove is None:
        pytest.skip("pg_prove is not installed (Debian: libtap-parser-sourcehandler-pgtap-perl)")
    assert FILES, "no pgTAP files found"
    await db.execute("create extension if not exists pgtap with schema extensions")

    url = urlparse(db_dsn)
    done = subprocess.run(
        [pg_prove, "-h", url.hostname or "127.0.0.1", "-p", str(url.port), "-U", url.username or "postgres",
         "-d", url.path.lstrip("/"), *map(str, FILES)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All tests successful." in done.stdout
