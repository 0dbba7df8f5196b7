"""A PostgreSQL cluster of the fault suite's own: scenarios restart and stop it.

Each scenario gets a fresh clone of a migrated template. The figures every scenario
reports are gathered, and written as a Markdown table when FAULTS_REPORT names a file.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from sidecar.ops.embedded import LocalCluster
from tests.faults.harness import kill_leftovers
from tests.faults.ledger import FIGURES, figures_table
from tests.pg import create_clone, create_template, drop_clone, throwaway_cluster

TEMPLATE = "faults_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="package")
def fault_cluster() -> Iterator[LocalCluster]:
    with throwaway_cluster("webhooks-faults-pg-") as cluster:
        asyncio.run(create_template(cluster, TEMPLATE))
        yield cluster


@pytest.fixture
def fault_dsn(fault_cluster: LocalCluster) -> Iterator[str]:
    """A fresh migrated database on the fault cluster (started again if a scenario left it down)."""
    if not fault_cluster.is_running():
        fault_cluster.start()
    name = f"faults_{next(_numbers)}"
    yield asyncio.run(create_clone(fault_cluster, TEMPLATE, name))
    if not fault_cluster.is_running():
        fault_cluster.start()
    asyncio.run(drop_clone(fault_cluster, name))


@pytest.fixture
async def db(fault_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(fault_dsn)
    try:
        yield conn
    finally:
        await kill_leftovers()
        if not conn.is_closed():
            await conn.close()


@pytest.fixture(scope="session", autouse=True)
def faults_report() -> Iterator[None]:
    yield
    target = os.environ.get("FAULTS_REPORT")
    if target and FIGURES:
        Path(target).write_text(figures_table())
