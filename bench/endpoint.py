"""Held deliveries and the outcome trigger: claim cost with rules held, record cost per result.

    .venv/bin/python bench/endpoint.py [--due N]

Prints the figures for bench/RESULTS.md ("Claim with rules held", "Outcome
trigger"); the scenarios are in bench/scenarios/holds.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import dbcosts, holds  # noqa: E402
from scenarios.common import bench_cluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=1_000_000, help="pending deliveries in the queue")
    args = parser.parse_args()
    with bench_cluster(quick=False) as bench:
        plain = asyncio.run(dbcosts.claim_cost(bench, args.due))
        held = asyncio.run(holds.claim_with_holds(bench, args.due))
        cost = asyncio.run(holds.outcome_trigger_cost(bench))
    print(f"claim 50, {args.due:,} due, none held: median {plain.timing.median_ms:.2f} ms, "
          f"p95 {plain.timing.p95_ms:.2f} ms")
    print(f"claim 50, {args.due:,} pending, half held by 3 paused rules (older than every due row): "
          f"median {held.timing.median_ms:.2f} ms, p95 {held.timing.p95_ms:.2f} ms, claimed {held.claimed}")
    print(f"record {cost.batch} successes: {cost.success_on_us:.1f} us/result with the outcome trigger, "
          f"{cost.success_off_us:.1f} without")
    print(f"record {cost.batch} final failures: {cost.failed_on_us:.1f} us/result with the outcome trigger, "
          f"{cost.failed_off_us:.1f} without")
    print("\nplan of the held-aware claim pass:\n" + held.plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
