"""Interleaved A/B throughput runs of the sidecar: settings, or another commit, side by side.

    .venv/bin/python bench/ab.py [--rounds 3] [--deliveries 20000] VARIANT [VARIANT …]

A VARIANT is `label=` (the working tree as it is), `label=NAME:VALUE,…` (environment
overrides, e.g. `debug=WEBHOOK_LOG_LEVEL:debug`) or `label=@REV` (the sidecar code of a
git revision, checked out in a temporary worktree; the database schema stays this
tree's). Each round runs every variant once, in order, on one throwaway cluster and
nginx, through the same path as the suite's (2): leads inserted, `webhook-sidecar
run --once`, rate from the first claim to the last completion. Prints per variant
the median rate, every round's rate, and the median CPU per delivery of the
process (start-up included). The machine may be shared: compare variants of the
same run only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from receiver import Nginx  # noqa: E402
from scenarios import endtoend  # noqa: E402
from scenarios.common import REPO_DIR, Bench, bench_cluster  # noqa: E402


@dataclass
class Variant:
    label: str
    env: dict[str, str] = field(default_factory=dict)
    revision: str | None = None
    prefix: list[str] | None = None
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)


def parse_variant(text: str) -> Variant:
    label, sep, spec = text.partition("=")
    if not sep or not label:
        raise SystemExit(f"variant {text!r}: use label=, label=NAME:VALUE,… or label=@REV")
    if spec.startswith("@"):
        return Variant(label, revision=spec[1:])
    pairs = [item.split(":", 1) for item in spec.split(",") if item]
    if any(len(pair) != 2 for pair in pairs):
        raise SystemExit(f"variant {text!r}: overrides are NAME:VALUE separated by commas")
    return Variant(label, env=dict(pairs))


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """The sidecar code of `revision`, checked out beside this one and removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="webhooks-ab-"))
    subprocess.run(["git", "-C", str(REPO_DIR), "worktree", "add", "--detach", str(where), revision],
                   check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(REPO_DIR), "worktree", "remove", "--force", str(where)],
                       check=False, capture_output=True)


def sidecar_from(tree: Path) -> list[str]:
    # Runs the CLI of that tree with this tree's interpreter and dependencies.
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from sidecar.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code]


def run_round(bench: Bench, url: str, variants: list[Variant], deliveries: int, concurrency: int) -> None:
    for variant in variants:
        before = os.times()
        result = asyncio.run(endtoend.throughput(
            bench, url, deliveries, concurrency, prefix=variant.prefix, extra_env=variant.env))
        after = os.times()
        if result.completed != deliveries:
            raise SystemExit(f"{variant.label}: {result.completed} of {deliveries} completed")
        cpu_s = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        variant.rates.append(result.rate)
        variant.cpu_us.append(cpu_s / deliveries * 1e6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args(argv)
    variants = [parse_variant(text) for text in args.variants]
    with ExitStack() as stack:
        for variant in variants:
            if variant.revision is not None:
                variant.prefix = sidecar_from(stack.enter_context(worktree(variant.revision)))
        started = time.monotonic()
        bench = stack.enter_context(bench_cluster(quick=True))
        nginx = stack.enter_context(Nginx())
        for _ in range(args.rounds):
            run_round(bench, nginx.url, variants, args.deliveries, args.concurrency)
    print(f"{args.rounds} interleaved rounds of {args.deliveries:,} deliveries at c={args.concurrency} "
          f"({time.monotonic() - started:.0f} s)")
    for v in variants:
        rounds = ", ".join(f"{rate:,.0f}" for rate in v.rates)
        print(f"{v.label:>12}: median {statistics.median(v.rates):,.0f}/s [{rounds}], "
              f"CPU {statistics.median(v.cpu_us):.0f} µs per delivery")
    return 0


if __name__ == "__main__":
    sys.exit(main())
