"""What every scenario shares: the benchmark cluster, fresh databases, subprocess helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from sidecar.ops import migrate
from sidecar.ops.embedded import LocalCluster

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))  # tests/pg.py: the one throwaway cluster the suites and the bench use

from tests import pg  # noqa: E402
from tests.pg import create_template, throwaway_cluster  # noqa: E402

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
    template: str = TEMPLATE  # the migrated database every clone copies

    def dsn(self, dbname: str) -> str:
        return self.cluster.dsn(dbname)


def compile_sidecar(tree: Path = REPO_DIR) -> None:
    """Bytecode for `tree`'s sidecar package, as an installed one has it (pip compiles at install).

    The bench runs the editable install, and with PYTHONDONTWRITEBYTECODE set (or a
    read-only tree, deploy/README.md) every start would compile the modules again.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "sidecar")], check=True)


@contextmanager
def bench_cluster(quick: bool) -> Iterator[Bench]:
    """A throwaway PostgreSQL cluster with a migrated template database, removed on exit."""
    compile_sidecar()
    scratch = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    try:
        with throwaway_cluster("webhooks-bench-pg-") as cluster:
            asyncio.run(create_template(cluster, TEMPLATE))
            yield Bench(cluster=cluster, scratch=scratch, quick=quick)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def create_clone(bench: Bench, label: str) -> str:
    """DSN of a new clone of the migrated template; scenarios never share data."""
    return await pg.create_clone(bench.cluster, bench.template, f"{label}_{next(_clone_numbers)}")


async def create_template_from(bench: Bench, name: str, migrations: Path) -> Bench:
    """A second template migrated from `migrations` (another revision's); the bench that clones it."""
    await pg.admin(bench.cluster, f"create database {name}")
    conn = await asyncpg.connect(bench.dsn(name))
    try:
        await migrate.bootstrap(conn)
        await migrate.migrate(conn, migrations)
    finally:
        await conn.close()
    return dataclasses.replace(bench, template=name)


async def drop_clone(bench: Bench, dsn: str) -> None:
    await pg.drop_clone(bench.cluster, dsn.rsplit("/", 1)[1])


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
