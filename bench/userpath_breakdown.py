"""Where the user path's time goes: start-up, and per delivery on the database and in the sidecar.

    .venv/bin/python bench/userpath_breakdown.py [--rounds 3] [--deliveries 20000]
        [--whatif-rounds 3] [--whatif-deliveries 6000] [--write bench/RESULTS.md]

The user path is bench/scenarios/userpath.py (`webhook-sidecar run --once` as a user runs
it, timed from spawn to exit). On one throwaway cluster and nginx this measures:

1. start-up: the interpreter alone, `import sidecar.cli`, and `-X importtime`'s largest
   imports; then each run's stretches from spawn to exit;
2. interleaved rounds of the bare client (c=50 and c=20, the user path's per-host cap,
   same body) and of the user path beside one-change variants that tell apart what the
   tuned suite figure does differently (per-host cap 50, ~700-byte leads, 5,000 leads per
   statement then VACUUM) and what a database with synchronous_commit = on gives;
   from the unchanged runs: CPU per delivery (sidecar, PostgreSQL by kind of process,
   nginx), database functions, WAL by record type, row sizes, cluster settings;
3. a py-spy profile of one user-path run (when py-spy is installed: `pip install py-spy`);
4. what-if clones of claim and record (bench/scenarios/recordcosts.py) at the batch sizes
   the user path's runs made, and the foreign keys' trigger times.

With --write it replaces its section of bench/RESULTS.md (between the
userpath-breakdown markers). Run it under the shared lock: `flock /work/bench.lock …`.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from receiver import Nginx  # noqa: E402
from run import sample_body  # noqa: E402
from scenarios import data, profile, recordcosts, userpath  # noqa: E402
from scenarios.common import Bench, BenchError, bench_cluster, machine, run_json, script  # noqa: E402

BEGIN = "<!-- userpath-breakdown:begin -->"
END = "<!-- userpath-breakdown:end -->"
HEADING = "## User path: where the time goes"
STARTUP_REPS = 5
PROFILE_RATE_HZ = 250


@dataclass(frozen=True)
class Variant:
    label: str
    how: userpath.Preparation = userpath.USER_PATH
    env: dict[str, str] = field(default_factory=dict)
    database: dict[str, str] = field(default_factory=dict)


USER = Variant("user path")
VARIANTS = (
    USER,
    Variant("… but WEBHOOK_PER_HOST_CONCURRENCY=50", env={"WEBHOOK_PER_HOST_CONCURRENCY": "50"}),
    Variant("… but ~400-byte lead data (the tuned run's)", how=userpath.Preparation(lead_sql=data.INSERT_LEADS)),
    Variant("… but 5,000 leads per statement, then VACUUM ANALYZE",
            how=userpath.Preparation(per_statement=5_000, vacuum=True)),
    Variant("… but synchronous_commit = on (a stock PostgreSQL)", database={"synchronous_commit": "on"}),
)


# -- start-up ---------------------------------------------------------------------------


def _wall_s(cmd: list[str]) -> float:
    samples = []
    for _ in range(STARTUP_REPS):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def import_times(top: int = 10) -> tuple[list[tuple[str, float, float]], list[tuple[str, float, float]]]:
    """(module, self ms, cumulative ms) of what `sidecar.cli` imports directly, and of the top-level
    packages wherever they were first imported; largest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sidecar.cli"],
                          check=True, capture_output=True, text=True)
    entries = []  # (depth, name, self ms, cumulative ms), children listed before their parent
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        entries.append((len(name) - len(name.lstrip()), name.strip(), int(own) / 1000, int(cumulative) / 1000))
    at = next(i for i, e in enumerate(entries) if e[1] == "sidecar.cli")
    depth = entries[at][0]
    children = []
    for entry in reversed(entries[:at]):
        if entry[0] <= depth:
            break
        if entry[0] == depth + 2:  # two more spaces: imported by sidecar.cli itself
            children.append(entry[1:])
    packages = [e[1:] for e in entries[:at] if "." not in e[1] and not e[1].startswith("_")]
    return ([("sidecar.cli (all)", entries[at][2], entries[at][3])] + sorted(children, key=lambda e: -e[2])[:top],
            sorted(packages, key=lambda e: -e[2])[:top])


def startup_lines(runs: list[userpath.UserRun]) -> list[str]:
    python = _wall_s([sys.executable, "-c", "pass"])
    cli = _wall_s([sys.executable, "-c", "import sidecar.cli"])
    direct, packages = import_times()
    phases = userpath.median_phases(runs)
    return [
        "### Start-up",
        "",
        f"Process spawn to exit, median of {STARTUP_REPS}: `python -c pass` {python * 1000:.0f} ms, "
        f"`python -c 'import sidecar.cli'` {cli * 1000:.0f} ms. The user-path runs, medians: "
        + ", ".join(f"{k} {v * 1000:,.0f} ms" for k, v in phases.items())
        + " (the start-up line is printed just before the worker's loop starts; the first claim is "
        "min(started_at), the database's now() of the claim).",
        "",
        "The largest imports `sidecar.cli` makes itself (`python -X importtime -c 'import sidecar.cli'`, one run; "
        "cumulative includes what each imports in turn, unless an earlier import already loaded it):",
        "",
        "| module | self ms | cumulative ms |", "|---|---|---|",
        *(f"| {name} | {own:.1f} | {cumulative:.1f} |" for name, own, cumulative in direct),
        "",
        "The same run by top-level package, wherever it was first imported (nested packages count in both):",
        "",
        "| package | cumulative ms |", "|---|---|",
        *(f"| {name} | {cumulative:.1f} |" for name, _, cumulative in packages),
    ]


# -- rounds -----------------------------------------------------------------------------


def ceiling(nginx: Nginx, body_file: Path, requests: int, concurrency: int) -> float:
    rows = run_json(script("scenarios/ceiling.py") + [
        "--url", nginx.url, "--body-file", str(body_file), "--requests", str(requests),
        "--concurrency", str(concurrency)], timeout_s=180)
    return float(rows[0]["rate"])


def rounds(bench: Bench, nginx: Nginx, body_file: Path, count: int, deliveries: int
           ) -> tuple[dict[str, list[float]], dict[str, list[userpath.UserRun]]]:
    bare: dict[str, list[float]] = {"bare client, c=50": [], "bare client, c=20": []}
    runs: dict[str, list[userpath.UserRun]] = {v.label: [] for v in VARIANTS}
    for _ in range(count):
        bare["bare client, c=50"].append(ceiling(nginx, body_file, deliveries, 50))
        bare["bare client, c=20"].append(ceiling(nginx, body_file, deliveries, 20))
        for v in VARIANTS:
            runs[v.label].append(asyncio.run(userpath.user_run(
                bench, nginx.url, deliveries, how=v.how, extra_env=v.env, database_settings=v.database,
                receiver_pid=nginx.pid)))
    return bare, runs


def _medians(runs: list[userpath.UserRun]) -> Callable[[Callable[[userpath.UserRun], float]], float]:
    def med(pick: Callable[[userpath.UserRun], float]) -> float:
        return statistics.median(pick(r) for r in runs)
    return med


def rounds_lines(bare: dict[str, list[float]], runs: dict[str, list[userpath.UserRun]]) -> list[str]:
    top = statistics.median(bare["bare client, c=50"])
    out = ["### The user path and one-change variants, interleaved", "",
           "| run | deliveries/s (median) | rounds | ratio to bare c=50 | spawn → first claim | "
           "first claim → last completion | sidecar CPU µs/delivery | PostgreSQL CPU µs/delivery | WAL bytes/delivery |",
           "|---|---|---|---|---|---|---|---|---|"]
    for label, rates in bare.items():
        out.append(f"| {label} | {statistics.median(rates):,.0f} | {', '.join(f'{r:,.0f}' for r in rates)} | "
                   f"{statistics.median(rates) / top:.2f} | | | | | |")
    for label, done in runs.items():
        rate = statistics.median(r.rate for r in done)
        med = _medians(done)
        out.append(
            f"| {label} | {rate:,.0f} | {', '.join(f'{r.rate:,.0f}' for r in done)} | {rate / top:.2f} | "
            f"{med(lambda r: r.first_claim - r.exited.launched) * 1000:,.0f} ms | "
            f"{med(lambda r: r.last_completed - r.first_claim) * 1000:,.0f} ms | "
            f"{med(lambda r: r.per_delivery_us(r.sidecar_cpu_s)):.0f} | "
            f"{med(lambda r: r.per_delivery_us(r.postgres_cpu_s)):.0f} | {med(lambda r: r.wal_bytes / r.completed):,.0f} |")
    return out


def costs_lines(user: list[userpath.UserRun]) -> list[str]:
    cpu = userpath.median_cpu_us(user)
    sizes = {k: statistics.median(r.sizes[k] for r in user) for k in user[0].sizes}
    rows = sizes["log_rows"] or 1
    wall = statistics.median(r.seconds / r.completed * 1e6 for r in user)
    return [
        "### Per delivery, the user path (medians of its runs above)",
        "",
        f"Wall time {wall:.0f} µs per delivery (spawn → exit over deliveries) on 2 cores shared by the sidecar, "
        "PostgreSQL and nginx. CPU per delivery:",
        "",
        "| process | CPU µs/delivery |", "|---|---|",
        *(f"| {k} | {v:.0f} |" for k, v in cpu.items()),
        "",
        "Database functions (pg_stat_user_functions with track_functions = all: server wall time, which "
        "includes waiting for a core while the sidecar and nginx use both; `total` includes the trigger "
        "functions its statements fired, `self` does not):",
        "",
        *userpath.function_table(user),
        "",
        "WAL (pg_walinspect's pg_get_wal_stats over the run, all processes):",
        "",
        *userpath.wal_table(user),
        "",
        f"Row sizes after the run (pg_column_size averages): a log row {sizes['log_row']:,.0f} bytes, of which "
        f"request_body {sizes['request_body']:,.0f}, request_headers {sizes['request_headers']:,.0f}, "
        f"response_headers {sizes['response_headers']:,.0f} ({sizes['compressed_bodies']:,.0f} bodies compressed); "
        f"a queue row {sizes['queue_row']:,.0f} bytes, of which payload {sizes['payload']:,.0f}. On disk per "
        f"delivery: webhook_logs heap {sizes['logs_heap'] / rows:,.0f} + indexes {sizes['logs_indexes'] / rows:,.0f} "
        f"bytes, webhook_queue heap {sizes['queue_heap'] / rows:,.0f} + indexes "
        f"{sizes['queue_indexes'] / rows:,.0f} bytes (three versions of each queue row: insert, claim, record).",
        "",
        "Cluster settings the sidecar's sessions got: "
        + ", ".join(f"{k} = {v}" for k, v in user[0].settings.items())
        + ". The bench cluster is the embedded one (sidecar/embedded.py), so this is what a user without "
        "DATABASE_URL or SUPABASE_URL gets; a stock PostgreSQL or Supabase has synchronous_commit = on "
        "(the last variant above).",
    ]


# -- profile ----------------------------------------------------------------------------


def profile_lines(bench: Bench, nginx: Nginx, deliveries: int) -> list[str]:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        return ["### Sidecar profile", "", "Not measured: py-spy is not installed (`.venv/bin/pip install py-spy`)."]
    out_file = bench.scratch / "profile.txt"
    prefix = [spy, "record", "-r", str(PROFILE_RATE_HZ), "-f", "raw", "-o", str(out_file), "--", userpath.SIDECAR]
    asyncio.run(userpath.user_run(bench, nginx.url, deliveries, prefix=prefix))
    by_library, by_part, samples = profile.shares(out_file.read_text())

    def table(title: str, shares: dict[str, float], top: int = 14) -> list[str]:
        rows = [f"| {title} | share |", "|---|---|"]
        rows += [f"| {k} | {v:.1%} |" for k, v in list(shares.items())[:top]]
        return rows + [f"| everything else | {sum(list(shares.values())[top:]):.1%} |"]

    return [
        "### Sidecar profile",
        "",
        f"`py-spy record -r {PROFILE_RATE_HZ} -f raw -- webhook-sidecar run --once`, one user-path run of "
        f"{deliveries:,}, {samples:,} samples of the sidecar's thread while on a CPU (bench/scenarios/profile.py "
        "says how samples are assigned). C code (uvloop, aiohttp's parser, asyncpg's protocol) counts for the "
        "Python frame that called it.",
        "",
        *table("innermost frame's library", by_library),
        "",
        *table("innermost frame of this project (what the sidecar code asked for)", by_part),
    ]


# -- what-if ----------------------------------------------------------------------------


def whatif_lines(bench: Bench, user: list[userpath.UserRun], count: int, deliveries: int) -> list[str]:
    claim_calls = statistics.median(r.functions["claim_webhook_jobs"].calls for r in user)
    record_calls = statistics.median(r.functions["record_webhook_attempts"].calls for r in user)
    claim_batch = max(1, min(100, round(user[0].completed / claim_calls)))
    record_batch = max(1, min(100, round(user[0].completed / record_calls)))
    template = recordcosts.Template.from_log(user[0].sample_log)
    tallies = asyncio.run(recordcosts.run_rounds(bench, template, count, deliveries, claim_batch, record_batch))
    triggers = asyncio.run(recordcosts.trigger_times(bench, template, record_batch))
    return [
        "### What-if clones: claim and record",
        "",
        f"bench/scenarios/recordcosts.py: {deliveries:,} ~1 KB leads per clone, claims of {claim_batch} and records "
        f"of {record_batch} successes (the user path's mean batch sizes above), one connection, {count} interleaved "
        "rounds in rotated order, the schema as migrated three times a round; server CPU per delivery (the "
        "backend's /proc schedstat around each call, median of the calls) and WAL per delivery without full-page "
        "images. The first row is absolute (median of its runs); the others are their median less it (negative: "
        "cheaper). Differences of a couple of µs are within the noise; the WAL column is exact.",
        "",
        *recordcosts.deltas(tallies),
        "",
        f"Triggers fired by one record call of {record_batch} (auto_explain with log_triggers; instrumentation "
        "inflates times):",
        "",
        *triggers,
    ]


# -- output -----------------------------------------------------------------------------


def write_section(path: Path, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{HEADING}\n\n{body}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--whatif-rounds", type=int, default=3)
    parser.add_argument("--whatif-deliveries", type=int, default=6_000)
    parser.add_argument("--write", type=Path, help="replace this file's user-path breakdown section")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with bench_cluster(quick=True) as bench, Nginx(workers=1) as nginx:
        body_file = bench.scratch / "user-body.json"
        body_file.write_bytes(asyncio.run(sample_body(bench, data.INSERT_KB_LEADS)))
        body_size = body_file.stat().st_size
        bare, runs = rounds(bench, nginx, body_file, args.rounds, args.deliveries)
        user = runs[USER.label]
        if any(r.completed != args.deliveries for r in user):
            raise BenchError("a user-path run did not complete every delivery")
        parts = [
            *rounds_lines(bare, runs), "",
            *startup_lines(user), "",
            *costs_lines(user), "",
            *profile_lines(bench, nginx, args.deliveries), "",
            *whatif_lines(bench, user, args.whatif_rounds, args.whatif_deliveries),
        ]
    command = shlex.join([".venv/bin/python", "bench/userpath_breakdown.py", *(argv or sys.argv[1:])])
    facts = ", ".join(f"{k} {v}" for k, v in machine().items())
    body = "\n".join([
        f"Command: `{command}` ({(time.monotonic() - started) / 60:.1f} min)  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Machine: {facts}. Body: {body_size:,} bytes. The machine is shared: compare rows of "
        "this run only.", "", *parts, ""])
    if args.write:
        write_section(args.write, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
