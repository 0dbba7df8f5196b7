"""Sidecar memory under the largest leads the database accepts, against a real local receiver.

    python bench/rss_large_leads.py [--leads 60] [--rounds 3]

A `webhook-sidecar run` starts on an empty queue; a first round of `--leads` leads of
1 KB data sets the baseline, then `--rounds` rounds of `--leads` leads of the largest
allowed data (1 MiB of JSON text, the leads.data limit) follow, all delivered to the
slow receiver of bench/receiver.py (1 ms per answer) by the same process. Its RSS
(VmRSS) is sampled every 100 ms: idle, the peak of each round, and after each round
has drained. Memory is bounded when the large rounds' peaks stay level instead of
growing with each, at a fixed ratio to the 1 KB round's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receiver import SlowReceiver  # noqa: E402
from scenarios import data  # noqa: E402
from scenarios.common import Bench, BenchError, bench_cluster, clone  # noqa: E402
from scenarios.endtoend import SIDECAR, sidecar_env  # noqa: E402

MAX_LEAD_JSON_BYTES = 1_048_576  # leads.data: the limit of supabase/migrations/20261202130000_input_limits.sql
SAMPLE_S = 0.1


@dataclass
class Rss:
    """Samples of one process's resident set, in MiB."""

    pid: int
    samples: list[float] = field(default_factory=list)

    def sample(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                mib = int(line.split()[1]) / 1024
                self.samples.append(mib)
                return mib
        raise BenchError(f"no VmRSS for process {self.pid}")


def lead_of(json_bytes: int) -> str:
    """A lead's data of about `json_bytes` of JSON text (jsonb prints `{"blob": "..."}`)."""
    envelope = len(json.dumps({"blob": ""}))
    return json.dumps({"blob": "x" * (json_bytes - envelope - 16)})


def largest_lead() -> str:
    return lead_of(MAX_LEAD_JSON_BYTES)


async def _deliver_round(conn, tenant: data.Tenant, leads: int, rss: Rss, done_before: int, lead: str) -> float:
    for _ in range(leads):
        await conn.execute("insert into public.leads (funnel_id, data) values ($1, $2::jsonb)", tenant.funnel_id, lead)
    peak = 0.0
    deadline = time.monotonic() + 300
    while await conn.fetchval("select count(*) from public.webhook_logs") < done_before + leads:
        if time.monotonic() > deadline:
            raise BenchError("deliveries did not finish within 300 s")
        peak = max(peak, rss.sample())
        await asyncio.sleep(SAMPLE_S)
    return max(peak, rss.sample())


async def measure(bench: Bench, leads: int, rounds: int) -> dict[str, object]:
    with SlowReceiver(delay_ms=1.0) as receiver:
        async with clone(bench, "rss") as conn:
            tenant = await data.create_tenant(conn, receiver.url)
            dsn = bench.dsn(await conn.fetchval("select current_database()"))
            log = bench.scratch / "sidecar-rss.log"
            with log.open("ab") as sink:
                proc = subprocess.Popen([SIDECAR, "run"], env=sidecar_env(dsn, 50), cwd=bench.scratch,
                                        stdout=sink, stderr=subprocess.STDOUT)
            try:
                rss = Rss(proc.pid)
                await asyncio.sleep(3.0)
                idle = rss.sample()
                small_peak = await _deliver_round(conn, tenant, leads, rss, 0, lead_of(1024))
                peaks, drained = [], []
                for n in range(rounds):
                    peaks.append(await _deliver_round(conn, tenant, leads, rss, (n + 1) * leads, largest_lead()))
                    await asyncio.sleep(2.0)
                    drained.append(rss.sample())
                failed = await conn.fetchval("select count(*) from public.webhook_logs where status <> 'success'")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    return {"leads_per_round": leads, "rounds": rounds, "lead_json_bytes": len(largest_lead()),
            "idle_mib": round(idle, 1), "peak_1kb_mib": round(small_peak, 1),
            "ratio_peak_large_to_1kb": round(max(peaks) / small_peak, 2), "peak_mib": [round(p, 1) for p in peaks],
            "after_round_mib": [round(d, 1) for d in drained], "failed_attempts": failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=60, help="leads per round (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of leads (default 3)")
    args = parser.parse_args(argv)
    with bench_cluster(quick=False) as bench:
        result = asyncio.run(measure(bench, args.leads, args.rounds))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
