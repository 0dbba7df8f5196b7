"""What the leads.data limit check costs a bulk insert of small leads.

    python bench/lead_insert_limits.py [--leads 10000] [--repeats 5]

One statement inserts `--leads` small leads (the enqueue trigger runs, one catch-all
rule) with the `webhook_leads_limits` trigger enabled, then the same with it
disabled, alternating, `--repeats` times each; prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import data  # noqa: E402
from scenarios.common import bench_cluster, clone  # noqa: E402

TOGGLE = "alter table leads {} trigger webhook_leads_limits"


async def measure(bench, leads: int, repeats: int) -> dict[str, float]:
    async with clone(bench, "lead_limits") as conn:
        tenant = await data.create_tenant(conn, "http://127.0.0.1:9/hook")
        timings: dict[str, list[float]] = {"checked": [], "unchecked": []}
        for _ in range(repeats):
            for label, verb in (("checked", "enable"), ("unchecked", "disable")):
                await conn.execute(TOGGLE.format(verb))
                timings[label].append(await data.insert_leads(conn, tenant.funnel_id, leads))
                await conn.execute("truncate webhook_queue, leads cascade")
        await conn.execute(TOGGLE.format("enable"))
    return {label: statistics.median(values) for label, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with bench_cluster(quick=False) as bench:
        medians = asyncio.run(measure(bench, args.leads, args.repeats))
    print(f"{args.leads} leads in one insert, median of {args.repeats}: "
          f"checked {medians['checked'] * 1000:.0f} ms, unchecked {medians['unchecked'] * 1000:.0f} ms, "
          f"ratio {medians['checked'] / medians['unchecked']:.3f}")


if __name__ == "__main__":
    main()
