"""A real PostgreSQL 15 for the whole session; each test gets a clone of a migrated template."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from sidecar.ops.embedded import LocalCluster
from tests.pg import create_clone, create_template, drop_clone, prepare, throwaway_cluster

# The sidecars these tests start are one worker each, whatever the machine's cores: the
# tests count one worker's attempts, leases and log lines. Several processes under one
# `run` (the default, `auto`) are tests/unit/test_processes.py and
# tests/integration/test_processes.py.
os.environ.setdefault("WEBHOOK_PROCESSES", "1")

TEMPLATE = "webhooks_template"
_clone_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """A throwaway cluster (pg_cron preloaded when installed), removed after the session."""
    with throwaway_cluster("webhooks-test-pg-") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def template_db(pg_cluster: LocalCluster) -> str:
    """Name of a database with the Supabase bootstrap and every migration applied."""
    return asyncio.run(create_template(pg_cluster, TEMPLATE))


@pytest.fixture(scope="session")
def cron_db_dsn(pg_cluster: LocalCluster) -> str:
    """The cluster's `postgres` database (pg_cron's database) migrated: where cron jobs exist."""
    asyncio.run(prepare(pg_cluster.dsn("postgres")))
    return pg_cluster.dsn("postgres")


@pytest.fixture
def db_dsn(pg_cluster: LocalCluster, template_db: str) -> Iterator[str]:
    """Superuser DSN of a fresh clone of the template, dropped after the test."""
    name = f"test_{next(_clone_numbers)}"
    yield asyncio.run(create_clone(pg_cluster, template_db, name))
    asyncio.run(drop_clone(pg_cluster, name))


@pytest.fixture
async def db(db_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_dsn)
    try:
        yield conn
    finally:
        await conn.close()
