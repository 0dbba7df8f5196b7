"""What the test suites' PostgreSQL fixtures share: admin statements and a migrated template."""

from __future__ import annotations

import asyncpg

from sidecar import migrate
from sidecar.embedded import LocalCluster


async def admin(cluster: LocalCluster, sql: str) -> None:
    """Run one statement in the cluster's `postgres` database (create/drop database)."""
    conn = await asyncpg.connect(cluster.dsn("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare(dsn: str) -> None:
    """Give the database Supabase's bootstrap and every migration."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate.bootstrap(conn)
        await migrate.migrate(conn)
    finally:
        await conn.close()
