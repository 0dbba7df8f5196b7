"""Apply supabase/migrations in order, recorded where the Supabase CLI records them.

`supabase_migrations.schema_migrations(version, name, statements)` is the CLI's own
history table, so `webhook-sidecar db migrate` and `supabase db push` agree on what
has been applied, whichever ran first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from sidecar.errors import SidecarError

_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>.+)\.sql$")

HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
"""


class MigrationError(SidecarError, RuntimeError):
    """A migration file is misnamed or failed to apply."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def default_migrations_dir() -> Path:
    """supabase/migrations of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "supabase" / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or default_migrations_dir()
    if not directory.is_dir():
        raise MigrationError(f"migrations folder not found: {directory}")
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named <14-digit timestamp>_<name>.sql")
        found.append(Migration(match["version"], match["name"], path))
    return found


def bootstrap_sql() -> str:
    """Supabase's roles, schemas and auth helpers for a plain PostgreSQL."""
    return resources.files("sidecar").joinpath("sql/supabase_bootstrap.sql").read_text(encoding="utf-8")


async def applied_versions(conn: asyncpg.Connection) -> set[str]:
    exists = await conn.fetchval("select to_regclass('supabase_migrations.schema_migrations') is not null")
    if not exists:
        return set()
    rows = await conn.fetch("select version from supabase_migrations.schema_migrations")
    return {row["version"] for row in rows}


async def pending(conn: asyncpg.Connection, directory: Path | None = None) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in discover(directory) if m.version not in done]


async def migrate(conn: asyncpg.Connection, directory: Path | None = None) -> list[Migration]:
    """Apply every pending migration, each in its own transaction with its history row."""
    await conn.execute(HISTORY_DDL)
    todo = await pending(conn, directory)
    for migration in todo:
        await _apply(conn, migration)
    return todo


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    sql = migration.sql()
    try:
        async with conn.transaction():
            await conn.execute(sql)
            await conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements)"
                " values ($1, $2, $3)",
                migration.version, migration.name, [sql],
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"{migration.path.name}: {exc}") from exc


async def bootstrap(conn: asyncpg.Connection) -> None:
    await conn.execute(bootstrap_sql())
