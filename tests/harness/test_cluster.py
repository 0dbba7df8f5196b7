"""The test harness itself: a migrated clone has Supabase's roles and auth helpers."""

import asyncpg

from sidecar.ops.embedded import LocalCluster
from tests.pg import admin


async def test_clone_has_supabase_roles_and_auth_helpers(db: asyncpg.Connection) -> None:
    roles = {r["rolname"] for r in await db.fetch("select rolname from pg_roles")}
    assert {"anon", "authenticated", "service_role", "authenticator"} <= roles
    async with db.transaction():
        await db.execute("""set local request.jwt.claims =
                          '{"sub":"8c3e6d3c-7d43-4c8e-9f55-0d9d2c0b1a11","role":"authenticated"}'""")
        uid = await db.fetchval("select auth.uid()::text")
        role = await db.fetchval("select auth.role()")
    assert uid == "8c3e6d3c-7d43-4c8e-9f55-0d9d2c0b1a11"
    assert role == "authenticated"


async def test_a_table_made_in_one_clone_is_not_in_the_next(
    pg_cluster: LocalCluster, template_db: str, db: asyncpg.Connection
) -> None:
    await db.execute("create table scratch_marker (x int)")
    await admin(pg_cluster, f"create database clone_check template {template_db}")
    try:
        other = await asyncpg.connect(pg_cluster.dsn("clone_check"))
        try:
            assert not await other.fetchval("select to_regclass('scratch_marker') is not null")
        finally:
            await other.close()
    finally:
        await admin(pg_cluster, "drop database clone_check")
    assert await db.fetchval("select to_regclass('scratch_marker') is not null")
