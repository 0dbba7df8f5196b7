"""Compare async HTTP client engines on POST throughput against a local nginx.

Usage: python bench/http_engines.py [--requests 20000] [--concurrency 10,50,200]
                                    [--budget-s 60] [--deliverer-at REV] [--write bench/RESULTS.md]

Starts nginx on 127.0.0.1 (a temporary prefix, one worker, access log off, a fixed
200 answer), then for each concurrency sends the same ~600-byte JSON body N times
with each engine over one shared client, and prints requests/s and the client's CPU
per request. Loopback only. A run that exceeds its time budget stops early and reports
the rate of what it completed. `--deliverer-at REV` adds a row for the Deliverer of a
git revision (checked out in a temporary worktree, run in a child process), measured
right after this tree's Deliverer in each cell.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from sidecar.ops.embedded import free_port

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            client_max_body_size 1m;
            client_body_buffer_size 16k;
            default_type application/json;
            return 200 '{{"ok":true}}';
        }}
    }}
}}
"""

Sender = Callable[[str, bytes, int, int, float], Coroutine[Any, Any, int]]


@dataclass(frozen=True)
class Run:
    engine: str
    concurrency: int
    completed: int
    seconds: float
    cpu_s: float  # this process's user + system time over the run

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.completed * 1e6 if self.completed else 0.0


def sample_body() -> bytes:
    lead = {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0000",
        "company": "Analytical Engines Ltd",
        "message": "Interested in the premium plan; please call after 3pm. " * 3,
        "utm": {"source": "newsletter", "medium": "email", "campaign": "spring"},
    }
    envelope = {
        "type": "lead.created",
        "timestamp": "2025-01-01T12:00:00.123456+00:00",
        "data": {
            "lead_id": "5f0c6a1e-1b2c-4d3e-8f90-a1b2c3d4e5f6",
            "funnel_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
            "routing_rule_id": "11111111-2222-4333-8444-555555555555",
            "client_name": "Acme",
            "lead": lead,
            "created_at": "2025-01-01T12:00:00.123456+00:00",
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


@contextmanager
def nginx() -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        port = free_port()
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=port))
        proc = subprocess.Popen([binary, "-p", prefix, "-c", str(conf)])
        try:
            wait_listening(port, proc)
            yield f"http://127.0.0.1:{port}/hook"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"nginx exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nginx did not start listening within 10 s")


async def drive(send_one: Callable[[], Awaitable[int]], n: int, conc: int, budget: float) -> int:
    """Run `n` sends over `conc` workers; returns how many completed before the budget ran out."""
    remaining = n
    done = 0
    stop_at = time.monotonic() + budget

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and time.monotonic() < stop_at:
            remaining -= 1
            if await send_one() != 200:
                raise RuntimeError("unexpected status")
            done += 1

    await asyncio.gather(*(worker() for _ in range(conc)))
    return done


HEADERS = {"Content-Type": "application/json", "User-Agent": "BPC-Funnels/2.0"}


async def run_httpx(url: str, body: bytes, n: int, conc: int, budget: float) -> int:
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def send() -> int:
            return (await client.post(url, content=body, headers=HEADERS)).status_code

        return await drive(send, n, conc, budget)


async def run_httpx_aiohttp(url: str, body: bytes, n: int, conc: int, budget: float) -> int:
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    transport = AiohttpTransport(limits=limits)
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:

        async def send() -> int:
            return (await client.post(url, content=body, headers=HEADERS)).status_code

        return await drive(send, n, conc, budget)


async def run_aiohttp(url: str, body: bytes, n: int, conc: int, budget: float) -> int:
    connector = aiohttp.TCPConnector(limit=conc, use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> int:
            async with session.post(url, data=body, headers=HEADERS) as response:
                await response.read()
                return response.status

        return await drive(send, n, conc, budget)


async def run_http1(url: str, body: bytes, n: int, conc: int, budget: float) -> int:
    """The sidecar's HTTP/1.1 client alone (sidecar/delivery/http1.py), as bare as the aiohttp row."""
    from sidecar.egress import CheckedResolver
    from yarl import URL

    from sidecar import http1

    target = URL(url)
    pool = http1.Pool(CheckedResolver(allow_private=True), limit=conc)
    try:

        async def send() -> int:
            response = http1.Response(1 << 16)
            await pool.exchange(target, http1.encode_request(target, HEADERS, body), response)
            return response.status or 0

        return await drive(send, n, conc, budget)
    finally:
        pool.close()


async def run_deliverer(url: str, body: bytes, n: int, conc: int, budget: float) -> int:
    """The sidecar's own attempt: compaction, signing, masking and the checking resolver included."""
    import base64
    import uuid

    from sidecar.delivery.attempt import Deliverer
    from sidecar.domain import Job

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    ids = dict(queue_id=uuid.uuid4(), webhook_id=uuid.uuid4(), lead_id=uuid.uuid4(), routing_rule_id=uuid.uuid4())
    job = Job(**ids, attempt_number=1, max_attempts=4, payload=json.dumps(json.loads(body)),
              webhook_url=url.replace("127.0.0.1", "localhost"), custom_headers={"Authorization": "Bearer x"},
              timeout_ms=10_000, retry_enabled=True, retry_delay_ms=1000, retry_backoff_multiplier=2.0,
              signing_secret=secret)
    async with Deliverer(allow_private_targets=True, limit=conc) as deliverer:

        async def send() -> int:
            return (await deliverer.attempt(job)).status or 0

        return await drive(send, n, conc, budget)


def measure(engine: str, runner: Sender, url: str, n: int, conc: int, budget: float) -> Run:
    start, cpu = time.perf_counter(), time.process_time()
    coro = runner(url, sample_body(), n, conc, budget)
    if engine.endswith("+uvloop"):  # the suffix selects the event loop
        import uvloop

        completed = uvloop.run(coro)
    else:
        completed = asyncio.run(coro)
    return Run(engine, conc, completed, time.perf_counter() - start, time.process_time() - cpu)


DELIVERER = "sidecar Deliverer+uvloop"
# Run in a child whose `sidecar` package is another revision's; this file's engines drive it.
CHILD = """import json, sys
sys.path[:0] = [{tree!r}, {bench!r}]
import http_engines as h
run = h.measure(h.DELIVERER, h.ENGINES[h.DELIVERER], *json.loads(sys.argv[1]))
print(json.dumps([run.completed, run.seconds, run.cpu_s]))
"""


def measure_at(tree: Path, label: str, url: str, n: int, conc: int, budget: float) -> Run:
    """The Deliverer row with the sidecar code checked out at `tree`."""
    code = CHILD.format(tree=str(tree), bench=str(Path(__file__).resolve().parent))
    child = subprocess.run([sys.executable, "-c", code, json.dumps([url, n, conc, budget])],
                           capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{label}: the child failed:\n{child.stderr}")
    completed, seconds, cpu_s = json.loads(child.stdout.splitlines()[-1])
    return Run(label, conc, completed, seconds, cpu_s)


@contextmanager
def checked_out(revision: str | None) -> Iterator[Path | None]:
    if revision is None:
        yield None
        return
    from ab import worktree

    with worktree(revision) as tree:
        yield tree


ENGINES: dict[str, Sender] = {
    "httpx.AsyncClient": run_httpx,
    "httpx + httpx-aiohttp transport": run_httpx_aiohttp,
    "aiohttp": run_aiohttp,
    "aiohttp+uvloop": run_aiohttp,
    "sidecar http1+uvloop": run_http1,
    DELIVERER: run_deliverer,
}


def machine_line() -> str:
    return (
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, httpx {httpx.__version__}, {platform.machine()} "
        f"{platform.system()} {platform.release()}"
    )


def table(runs: list[Run], concurrencies: list[int]) -> str:
    header = "| engine | " + " | ".join(f"c={c} req/s (CPU/req)" for c in concurrencies) + " |"
    lines = [header, "|---" * (len(concurrencies) + 1) + "|"]
    for engine in dict.fromkeys(r.engine for r in runs):
        cells = [_cell(r) for c in concurrencies for r in runs if (r.engine, r.concurrency) == (engine, c)]
        lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(run: Run) -> str:
    return f"{run.rate:,.0f} ({run.cpu_us:.0f} µs)" if run.completed else "–"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", default="10,50,200")
    parser.add_argument("--budget-s", type=float, default=60.0, help="time cap per run")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--deliverer-at", metavar="REV", help="also run the Deliverer of this git revision")
    parser.add_argument("--write", type=Path, help="replace the engine section of this file")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runs: list[Run] = []
    with nginx() as url, checked_out(args.deliverer_at) as tree:
        for engine in args.engines.split(","):
            for conc in concurrencies:
                runs.append(report_run(measure(engine, ENGINES[engine], url, args.requests, conc, args.budget_s)))
                if engine == DELIVERER and tree is not None:
                    label = f"{DELIVERER} @{args.deliverer_at}"
                    runs.append(report_run(measure_at(tree, label, url, args.requests, conc, args.budget_s)))
    report = render(runs, concurrencies, args, argv)
    print("\n" + report)
    if args.write:
        write_section(args.write, report)
    return 0


def report_run(run: Run) -> Run:
    print(f"{run.engine:40} c={run.concurrency:<4} {run.completed:>6} req in {run.seconds:6.2f} s"
          f" = {run.rate:8,.0f} req/s, {run.cpu_us:5.0f} µs CPU/req", flush=True)
    return run


def render(runs: list[Run], concurrencies: list[int], args: argparse.Namespace, argv: list[str]) -> str:
    partial = [r for r in runs if r.completed < args.requests]
    note = "" if not partial else (
        f"\nRuns that hit the {args.budget_s:g} s budget (rate over the requests they completed): "
        + ", ".join(f"{r.engine} c={r.concurrency} ({r.completed})" for r in partial) + "\n"
    )
    command = "python bench/http_engines.py " + " ".join(argv)
    return (
        f"Command: `{command.strip()}`  \n"
        f"Machine: {machine_line()}  \n"
        f"Workload: {args.requests:,} POSTs per cell of one {len(sample_body())}-byte JSON body "
        f"to nginx on 127.0.0.1 (1 worker, `return 200`), one shared client per run; "
        f"CPU is the client process's user + system time per request.\n\n"
        f"{table(runs, concurrencies)}\n{note}"
    )


BEGIN = "<!-- http-engines:begin -->"
END = "<!-- http-engines:end -->"


def write_section(path: Path, report: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{report}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## HTTP engine\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
