"""What every scenario shares: the benchmark cluster, fresh databases, subprocess helpers."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from sidecar import migrate
from sidecar.embedded import LocalCluster, free_port

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
TEMPLATE = "bench_template"
_clone_numbers = itertools.count(1)


class BenchError(RuntimeError):
    """A scenario could not run (a child failed, a precondition is missing)."""


@dataclass(frozen=True)
class Bench:
    """The running benchmark cluster and where scenarios put scratch files."""

    cluster: LocalCluster
    scratch: Path
    quick: bool

    def dsn(self, dbname: str) -> str:
        return self.cluster.dsn(dbname)


@contextmanager
def bench_cluster(quick: bool) -> Iterator[Bench]:
    """A throwaway PostgreSQL cluster with a migrated template database, removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    cluster = LocalCluster(root=root / "pg", port=free_port())
    cluster.ensure_started()
    try:
        asyncio.run(_create_template(cluster))
        yield Bench(cluster=cluster, scratch=root, quick=quick)
    finally:
        cluster.destroy()
        subprocess.run(["rm", "-rf", str(root)], check=False)


async def _create_template(cluster: LocalCluster) -> None:
    await admin(cluster, f"create database {TEMPLATE}")
    conn = await asyncpg.connect(cluster.dsn(TEMPLATE))
    try:
        await migrate.bootstrap(conn)
        await migrate.migrate(conn)
    finally:
        await conn.close()


async def admin(cluster: LocalCluster, sql: str) -> None:
    conn = await asyncpg.connect(cluster.dsn("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_clone(bench: Bench, label: str) -> str:
    """DSN of a new clone of the migrated template; scenarios never share data."""
    name = f"{label}_{next(_clone_numbers)}"
    await admin(bench.cluster, f"create database {name} template {TEMPLATE}")
    return bench.dsn(name)


async def drop_clone(bench: Bench, dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    await admin(bench.cluster, f"drop database if exists {name} with (force)")


@asynccontextmanager
async def clone(bench: Bench, label: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a fresh clone, dropped on exit."""
    dsn = await create_clone(bench, label)
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()
        await drop_clone(bench, dsn)


def fresh_database(bench: Bench, label: str) -> str:
    return asyncio.run(create_clone(bench, label))


def drop_database(bench: Bench, dsn: str) -> None:
    asyncio.run(drop_clone(bench, dsn))


def run_json(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> list[dict[str, float]]:
    """Run a child that prints JSON lines; return them, or raise with its stderr tail."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, **(env or {})}, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise BenchError(f"{Path(cmd[1]).name} exited {done.returncode}: {tail}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def script(name: str) -> list[str]:
    """Command prefix running a bench script with this interpreter."""
    return [sys.executable, str(BENCH_DIR / name)]


def machine() -> dict[str, str]:
    """The facts a reader needs to compare figures across machines."""
    mem_kb = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{int(mem_kb) / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


async def server_version(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("show server_version"))
    finally:
        await conn.close()
