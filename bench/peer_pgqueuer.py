"""The peer: the same POSTs as PGQueuer jobs (asyncpg driver, aiohttp on uvloop).

Each job carries the request body as its payload; its entrypoint POSTs that body to
the receiver through one shared aiohttp session limited to `--concurrency`
connections, and PGQueuer's queue manager runs with `max_concurrent_tasks` at the
same concurrency (PGQueuer requires at least twice the batch size). The schema is
installed with PGQueuer's own `Queries.install()` when absent. For each batch size
the queue is filled with `--jobs` jobs, then drained; the time runs from the first
job's start to the queue manager's return (its last status writes flushed).

    python bench/peer_pgqueuer.py --dsn DSN --url URL --body-file F \
        [--jobs 20000] [--concurrency 50] [--batch-sizes 10,25,50,100]

Prints one JSON object per batch size: batch_size, completed, failed, seconds, rate.
PGQueuer logs nothing of the request or response; the sidecar logs every attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
from pgqueuer import Job, Queries, QueueManager
from pgqueuer.adapters.drivers.asyncpg import AsyncpgDriver
from pgqueuer.domain.types import QueueExecutionMode

ENTRYPOINT = "post_webhook"
HEADERS = {"Content-Type": "application/json", "User-Agent": "BPC-Funnels/2.0"}
ENQUEUE_CHUNK = 5_000


@dataclass(frozen=True)
class PeerRun:
    batch_size: int
    completed: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


async def ensure_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries.from_asyncpg_connection(conn)
        if not await queries.schema_is_installed():
            await queries.install()
    finally:
        await conn.close()


async def fill_queue(dsn: str, body: bytes, jobs: int) -> None:
    """Enqueue `jobs` jobs in multi-row batches, the way PGQueuer's docs advise for bulk."""
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries.from_asyncpg_connection(conn)
        await queries.clear_queue()
        for start in range(0, jobs, ENQUEUE_CHUNK):
            size = min(ENQUEUE_CHUNK, jobs - start)
            await queries.enqueue([ENTRYPOINT] * size, [body] * size, [0] * size)
    finally:
        await conn.close()


async def drain(dsn: str, url: str, concurrency: int, batch_size: int, budget_s: float) -> PeerRun:
    """Run one queue manager in drain mode until every job has been processed."""
    conn = await asyncpg.connect(dsn)
    counts = {"ok": 0, "failed": 0}
    first_start: list[float] = []
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    session = aiohttp.ClientSession(connector=connector)
    qm = QueueManager(queries=Queries(AsyncpgDriver(conn)))

    @qm.entrypoint(ENTRYPOINT)
    async def post_webhook(job: Job) -> None:
        if not first_start:
            first_start.append(time.perf_counter())
        async with session.post(url, data=job.payload, headers=HEADERS) as response:
            await response.read()
            counts["ok" if 200 <= response.status < 300 else "failed"] += 1

    try:
        await asyncio.wait_for(
            qm.run(
                batch_size=batch_size,
                mode=QueueExecutionMode.drain,
                max_concurrent_tasks=max(concurrency, 2 * batch_size),
                # Short enough that a missed wake-up cannot dominate the drain's tail.
                dequeue_timeout=timedelta(milliseconds=200),
            ),
            timeout=budget_s,
        )
        ended = time.perf_counter()
    finally:
        await session.close()
        await conn.close()
    started = first_start[0] if first_start else ended
    return PeerRun(batch_size, counts["ok"], counts["failed"], ended - started)


async def run_all(args: argparse.Namespace) -> list[PeerRun]:
    body = args.body_file.read_bytes()
    await ensure_schema(args.dsn)
    runs = []
    for batch_size in args.batch_sizes:
        await fill_queue(args.dsn, body, args.jobs)
        runs.append(await drain(args.dsn, args.url, args.concurrency, batch_size, args.budget_s))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[10, 25, 50, 100])
    parser.add_argument("--budget-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    import uvloop

    for run in uvloop.run(run_all(args)):
        print(json.dumps({**asdict(run), "rate": run.rate}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
