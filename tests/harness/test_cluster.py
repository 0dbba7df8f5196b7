"""The test harness itself: a migrated clone has Supabase's roles and auth helpers."""

import asyncpg


async def test_clone_has_supabase_roles_and_auth_helpers(db: asyncpg.Connection) -> None:
    roles = {r["rolname"] for r in await db.fetch("select rolname from pg_roles")}
    assert {"anon", "authenticated", "service_role", "authenticator"} <= roles
    async with db.transaction():
        await db.execute("""set local request.jwt.claims = '{"sub":"8c3e6d3c-7d43-4c8e-9f55-0d9d2c0b1a11","role":"authenticated"}'""")
        uid = await db.fetchval("select auth.uid()::text")
        role = await db.fetchval("select auth.role()")
    assert uid == "8c3e6d3c-7d43-4c8e-9f55-0d9d2c0b1a11"
    assert role == "authenticated"


async def test_clones_are_independent(db_dsn: str, db: asyncpg.Connection) -> None:
    await db.execute("create table scratch_marker (x int)")
    assert await db.fetchval("select to_regclass('scratch_marker') is not null")


async def test_a_new_clone_does_not_see_another_tests_tables(db: asyncpg.Connection) -> None:
    assert not await db.fetchval("select to_regclass('scratch_marker') is not null")
