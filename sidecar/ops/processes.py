"""Several worker processes under one `run`: the settings each gets, and their supervision.

One Python process uses one core; `WEBHOOK_PROCESSES` runs that many workers on the
same queue from one command (one systemd unit). The concurrency settings stay the
service's totals: each process gets its share, so N processes open no more
connections to a receiver than one would. The supervisor does no delivery itself: it
starts the workers, passes SIGTERM/SIGINT on, and exits with the worst exit code once
all have exited; when one fails, the others are stopped so that systemd restarts the
whole service.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping, Sequence

from sidecar.settings import Settings

log = logging.getLogger("sidecar.processes")


def share(total: int, count: int, index: int) -> int:
    """Process `index`'s part of `total` split `count` ways: the parts differ by at most one, none is 0."""
    return max(1, total // count + (1 if index < total % count else 0))


def child_environments(settings: Settings, environ: Mapping[str, str], dsn: str | None) -> list[dict[str, str]]:
    """The environment of each worker process: its share of the limits, its own worker id and metrics port."""
    count = settings.processes
    envs = []
    for i in range(count):
        env = dict(environ)
        env.update({
            "WEBHOOK_PROCESSES": "1",
            "WEBHOOK_WORKER_ID": f"{settings.worker_id}-{i + 1}",
            "WEBHOOK_CONCURRENCY": str(share(settings.concurrency, count, i)),
            "WEBHOOK_PER_HOST_CONCURRENCY": str(share(settings.per_host_concurrency, count, i)),
        })
        if settings.metrics_port is not None:
            env["WEBHOOK_METRICS_PORT"] = str(settings.metrics_port + i if settings.metrics_port else 0)
        if dsn is not None:
            env["DATABASE_URL"] = dsn  # the embedded cluster, started once by the supervisor
        envs.append(env)
    return envs


async def supervise(argv: Sequence[str], environments: Sequence[Mapping[str, str]]) -> int:
    """Run one `argv` process per environment until all exit; the worst exit code wins."""
    children = [await asyncio.create_subprocess_exec(*argv, env=dict(env)) for env in environments]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _signal_all, children, signal.SIGTERM)
    try:
        return await _wait_all(children)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _wait_all(children: list[asyncio.subprocess.Process]) -> int:
    pending = {asyncio.ensure_future(child.wait()): child for child in children}
    worst = 0
    while pending:
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            child = pending.pop(task)
            code = task.result()
            # A worker stopped before it had set its own handler ends by the SIGTERM
            # passed on to it; it had claimed nothing, so that is a clean stop too.
            if code == -signal.SIGTERM:
                code = 0
            if code != 0 and worst == 0:
                log.error("worker process %d exited with %d; stopping the others", child.pid, code)
                _signal_all(children, signal.SIGTERM)
            worst = max(worst, _exit_code(code))
    return worst


def _exit_code(returncode: int) -> int:
    # A worker killed by a signal reports -signum; the service then failed.
    return returncode if returncode >= 0 else 1


def _signal_all(children: Sequence[asyncio.subprocess.Process], sig: int) -> None:
    for child in children:
        if child.returncode is None:
            try:
                child.send_signal(sig)
            except ProcessLookupError:
                pass


def worker_argv(once: bool) -> list[str]:
    """The command line of one worker process: this interpreter, `run` with one process."""
    return [sys.executable, "-m", "sidecar.cli", "run", *(["--once"] if once else [])]
