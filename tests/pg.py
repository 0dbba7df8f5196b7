"""The PostgreSQL clusters the test suites and the benchmarks share: one throwaway cluster,
a migrated template database, and clones of it (`CREATE DATABASE … TEMPLATE`, milliseconds)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from sidecar.ops import migrate
from sidecar.ops.embedded import LocalCluster, free_port


@contextmanager
def throwaway_cluster(prefix: str) -> Iterator[LocalCluster]:
    """A cluster (pg_cron preloaded when installed) in a new temp directory on a free port, removed on exit."""
    cluster = LocalCluster(root=Path(tempfile.mkdtemp(prefix=prefix)), port=free_port())
    cluster.ensure_started()
    try:
        yield cluster
    finally:
        cluster.destroy()


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


async def create_template(cluster: LocalCluster, name: str) -> str:
    """A new database `name` with the bootstrap and every migration applied; its name."""
    await admin(cluster, f"create database {name}")
    await prepare(cluster.dsn(name))
    return name


async def create_clone(cluster: LocalCluster, template: str, name: str) -> str:
    """DSN of a new database `name` copied from `template`."""
    await admin(cluster, f"create database {name} template {template}")
    return cluster.dsn(name)


async def drop_clone(cluster: LocalCluster, name: str) -> None:
    await admin(cluster, f"drop database if exists {name} with (force)")
