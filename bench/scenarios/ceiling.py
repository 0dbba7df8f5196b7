"""The ceiling: a bare aiohttp client (uvloop) POSTing one body N times at a fixed concurrency.

It does nothing a delivery does besides the HTTP exchange, so its rate is the most any
worker built on the same engine can reach against the same receiver. Run standalone,
in its own process, so nothing else shares its event loop:

    python bench/scenarios/ceiling.py --url URL --body-file F --requests 20000 --concurrency 50

Prints one JSON object: completed, failed, seconds, rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

HEADERS = {"Content-Type": "application/json", "User-Agent": "BPC-Funnels/2.0"}


@dataclass(frozen=True)
class LoadResult:
    completed: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


async def post_many(url: str, body: bytes, requests: int, concurrency: int,
                    budget_s: float = 120.0) -> LoadResult:
    """POST `body` `requests` times with `concurrency` requests in flight; stop at the budget."""
    remaining = iter(range(requests))
    counts = {"ok": 0, "failed": 0}
    deadline = time.monotonic() + budget_s
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def lane() -> None:
            for _ in remaining:
                if time.monotonic() > deadline:
                    return
                try:
                    async with session.post(url, data=body, headers=HEADERS) as response:
                        await response.read()
                        counts["ok" if 200 <= response.status < 300 else "failed"] += 1
                except aiohttp.ClientError:
                    counts["failed"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LoadResult(completed=counts["ok"], failed=counts["failed"], seconds=seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--budget-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    import uvloop

    result = uvloop.run(post_many(args.url, args.body_file.read_bytes(), args.requests,
                                  args.concurrency, args.budget_s))
    print(json.dumps({**asdict(result), "rate": result.rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
