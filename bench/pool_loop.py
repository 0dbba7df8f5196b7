"""CPU of sidecar/delivery/http1.py's exchange alone: `python bench/pool_loop.py [EXCHANGES]`.

One nginx (bench/receiver.py), one http1.Pool, 20 tasks posting a 1,300-byte body in a
loop on uvloop; prints this process's user and system CPU per exchange (getrusage), the
floor under the sidecar's HTTP side. Run it under `flock /work/bench.lock`.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import uvloop  # noqa: E402
from receiver import Nginx  # noqa: E402
from yarl import URL  # noqa: E402

from sidecar.delivery import http1  # noqa: E402
from sidecar.delivery.egress import CheckedResolver  # noqa: E402

TASKS = 20


async def loop(url: str, exchanges: int) -> tuple[float, float]:
    pool = http1.Pool(CheckedResolver(allow_private=True), limit=100, limit_per_host=TASKS)
    target = URL(url)
    request = http1.encode_request(target, {"Content-Type": "application/json"}, b"x" * 1300)

    async def worker(count: int) -> None:
        for _ in range(count):
            await pool.exchange(target, request, http1.Response(65536))

    before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(worker(exchanges // TASKS) for _ in range(TASKS)))
    after = resource.getrusage(resource.RUSAGE_SELF)
    pool.close()
    done = exchanges // TASKS * TASKS
    return (after.ru_utime - before.ru_utime) / done * 1e6, (after.ru_stime - before.ru_stime) / done * 1e6


def main() -> None:
    exchanges = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with Nginx(workers=1) as nginx:
        user, system = uvloop.run(loop(nginx.url, exchanges))
    print(f"{exchanges:,} exchanges: user {user:.1f} µs, system {system:.1f} µs per exchange")


if __name__ == "__main__":
    main()
