"""The migrations apply with the real Supabase CLI, and the sidecar's runner agrees with it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
import pytest

from sidecar.ops import migrate
from sidecar.ops.embedded import LocalCluster
from tests.pg import admin

ROOT = Path(__file__).resolve().parents[2]
CLI = os.environ.get("SUPABASE_CLI", "")

pytestmark = pytest.mark.skipif(
    not CLI and not os.environ.get("CI"),
    reason="the Supabase CLI is installed by scripts/test.sh (SUPABASE_CLI)",
)


async def _fresh_bootstrapped(cluster: LocalCluster, name: str) -> str:
    await admin(cluster, f"drop database if exists {name} with (force)")
    await admin(cluster, f"create database {name}")
    conn = await asyncpg.connect(cluster.dsn(name))
    try:
        await migrate.bootstrap(conn)
    finally:
        await conn.close()
    return cluster.dsn(name)


async def _history_and_pending(dsn: str) -> tuple[list[str], list[migrate.Migration]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("select version from supabase_migrations.schema_migrations order by 1")
        return [r["version"] for r in rows], await migrate.pending(conn)
    finally:
        await conn.close()


def test_supabase_db_push_applies_every_migration_and_db_migrate_agrees(pg_cluster: LocalCluster) -> None:
    assert CLI and Path(CLI).exists(), "SUPABASE_CLI must point at the pinned supabase binary"
    dsn = asyncio.run(_fresh_bootstrapped(pg_cluster, "cli_push"))
    done = subprocess.run(
        [CLI, "db", "push", "--db-url", f"{dsn}?sslmode=disable", "--yes"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    versions, pending = asyncio.run(_history_and_pending(dsn))
    assert versions == [m.version for m in migrate.discover()]
    assert pending == []
