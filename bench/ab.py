"""Interleaved A/B throughput runs of the sidecar: settings, or another commit, side by side.

    .venv/bin/python bench/ab.py [--rounds 3] [--deliveries 20000] [--user-path] VARIANT [VARIANT …]

A VARIANT is `label=` (the working tree as it is), `label=NAME:VALUE,…` (environment
overrides, e.g. `debug=WEBHOOK_LOG_LEVEL:debug`) or `label=@REV` (the sidecar code of a
git revision, checked out in a temporary worktree; the database schema stays this
tree's, unless --schema-too, which gives each `@REV` variant that revision's migrations
as well, e.g. `--schema-too before=@main now=`). Each round runs every variant once, in order, on one throwaway cluster and
nginx, through the same path as the suite's (2): leads inserted, `webhook-sidecar
run --once`, rate from the first claim to the last completion. Prints per variant
the median rate, every round's rate, and the median CPU per delivery of the
process (start-up included). The machine may be shared: compare variants of the
same run only.

With --user-path every variant runs the user path instead (bench/scenarios/userpath.py:
~1 KB leads inserted in one statement, default settings but WEBHOOK_CONCURRENCY=50, rate
from process spawn to exit), and the CPU is the sidecar process's own (wait4); the
median PostgreSQL CPU per delivery and the start-up time (spawn to first claim) are
printed beside it. A variant's overrides apply on top, e.g.
`perhost50=WEBHOOK_PER_HOST_CONCURRENCY:50`.
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
from scenarios import endtoend, userpath  # noqa: E402
from scenarios.common import REPO_DIR, Bench, bench_cluster, compile_sidecar, create_template_from  # noqa: E402


@dataclass
class Variant:
    label: str
    env: dict[str, str] = field(default_factory=dict)
    revision: str | None = None
    prefix: list[str] | None = None
    tree: Path | None = None
    bench: Bench | None = None  # its own template (--schema-too), else the run's
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    db_cpu_us: list[float] = field(default_factory=list)
    startup_s: list[float] = field(default_factory=list)


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
    compile_sidecar(where)
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
            variant.bench or bench, url, deliveries, concurrency, prefix=variant.prefix, extra_env=variant.env))
        after = os.times()
        if result.completed != deliveries:
            raise SystemExit(f"{variant.label}: {result.completed} of {deliveries} completed")
        cpu_s = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        variant.rates.append(result.rate)
        variant.cpu_us.append(cpu_s / deliveries * 1e6)


def run_user_round(bench: Bench, nginx: Nginx, variants: list[Variant], deliveries: int) -> None:
    for variant in variants:
        result = asyncio.run(userpath.user_run(variant.bench or bench, nginx.url, deliveries, prefix=variant.prefix,
                                               extra_env=variant.env, receiver_pid=nginx.pid))
        variant.rates.append(result.rate)
        variant.cpu_us.append(result.per_delivery_us(result.sidecar_cpu_s))
        variant.db_cpu_us.append(result.per_delivery_us(result.postgres_cpu_s))
        variant.startup_s.append(result.first_claim - result.exited.launched)


def describe(variant: Variant) -> str:
    rounds = ", ".join(f"{rate:,.0f}" for rate in variant.rates)
    text = (f"{variant.label:>12}: median {statistics.median(variant.rates):,.0f}/s [{rounds}], "
            f"CPU {statistics.median(variant.cpu_us):.0f} µs per delivery")
    if variant.db_cpu_us:
        text += (f", PostgreSQL CPU {statistics.median(variant.db_cpu_us):.0f} µs per delivery, "
                 f"spawn → first claim {statistics.median(variant.startup_s) * 1000:.0f} ms")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50, help="not with --user-path (50, as a user sets it)")
    parser.add_argument("--user-path", action="store_true", help="time the user path (bench/scenarios/userpath.py)")
    parser.add_argument("--schema-too", action="store_true",
                        help="@REV variants get that revision's migrations too, in a template of their own")
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args(argv)
    variants = [parse_variant(text) for text in args.variants]
    with ExitStack() as stack:
        for variant in variants:
            if variant.revision is not None:
                variant.tree = stack.enter_context(worktree(variant.revision))
                variant.prefix = sidecar_from(variant.tree)
        started = time.monotonic()
        bench = stack.enter_context(bench_cluster(quick=True))
        for number, variant in enumerate(variants):
            if args.schema_too and variant.tree is not None:
                variant.bench = asyncio.run(create_template_from(
                    bench, f"bench_template_{number}", variant.tree / "supabase" / "migrations"))
        nginx = stack.enter_context(Nginx())
        for _ in range(args.rounds):
            if args.user_path:
                run_user_round(bench, nginx, variants, args.deliveries)
            else:
                run_round(bench, nginx.url, variants, args.deliveries, args.concurrency)
    path = "the user path, spawn → exit" if args.user_path else f"c={args.concurrency}"
    print(f"{args.rounds} interleaved rounds of {args.deliveries:,} deliveries, {path} "
          f"({time.monotonic() - started:.0f} s)")
    for v in variants:
        print(describe(v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
