"""A real PostgreSQL 15 for the whole session; each test gets a clone of a migrated template."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from sidecar.embedded import LocalCluster, free_port
from tests.pg import admin, prepare

TEMPLATE = "webhooks_template"
_clone_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A throwaway cluster (pg_cron preloaded when installed), removed after the session."""
    root = Path(tempfile.mkdtemp(prefix="webhooks-test-pg-"))
    cluster = LocalCluster(root=root, port=free_port())
    cluster.ensure_started()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def template_db(pg_cluster: LocalCluster) -> str:
    """Name of a database with the Supabase bootstrap and every migration applied."""
    asyncio.run(admin(pg_cluster, f"create database {TEMPLATE}"))
    asyncio.run(prepare(pg_cluster.dsn(TEMPLATE)))
    return TEMPLATE


@pytest.fixture(scope="session")
def cron_db_dsn(pg_cluster: LocalCluster) -> str:
    """The cluster's `postgres` database (pg_cron's database) migrated: where cron jobs exist."""
    asyncio.run(prepare(pg_cluster.dsn("postgres")))
    return pg_cluster.dsn("postgres")


@pytest.fixture
def db_dsn(pg_cluster: LocalCluster, template_db: str) -> Iterator[str]:
    """Superuser DSN of a fresh clone of the template, dropped after the test."""
    name = f"test_{next(_clone_numbers)}"
    asyncio.run(admin(pg_cluster, f"create database {name} template {template_db}"))
    yield pg_cluster.dsn(name)
    asyncio.run(admin(pg_cluster, f"drop database if exists {name} with (force)"))


@pytest.fixture
async def db(db_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_dsn)
    try:
        yield conn
    finally:
        await conn.close()
