"""Several worker processes under one `run`: the settings each gets, and their supervision.

One Python process uses one core; `WEBHOOK_PROCESSES` runs that many workers on the
same queue from one command (one systemd unit), forked from it. The concurrency
settings stay the service's totals: each process gets its share, so N processes open no more
connections to a receiver than one would. The supervisor does no delivery itself: it
starts the workers, passes SIGTERM/SIGINT on, and exits with the worst exit code once
all have exited; when one fails, the others are stopped so that systemd restarts the
whole service.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence

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


def run_workers(environments: Sequence[Mapping[str, str]], work: Callable[[], int]) -> int:
    """Fork one worker per environment, each running `work()` in it, and wait for all; the worst code wins.

    SIGTERM and SIGINT are passed on to the workers as SIGTERM, also while they are
    still being forked; when one worker fails, the others are stopped, so that systemd
    restarts the whole service.
    """
    alive: set[int] = set()
    stop_asked = False

    def forward(*_: object) -> None:
        nonlocal stop_asked
        stop_asked = True
        _signal_all(alive, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for env in environments:
            alive.add(_fork(env, work))
            if stop_asked:
                _signal_all(alive, signal.SIGTERM)
        return _wait(alive)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fork(env: Mapping[str, str], work: Callable[[], int]) -> int:
    """One worker: forked, not spawned, so it starts with the interpreter and the modules
    the supervisor already loaded, and reaches its first claim about as soon as a single
    process would instead of importing the package again. The forwarded signals are
    blocked across the fork; the child puts back the default handlers before unblocking
    them, so a stop that arrives while it starts ends it, not the supervisor's handler."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    pid = os.fork()
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.environ.clear()
        os.environ.update(env)
        code = work()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(alive: set[int]) -> int:
    worst = 0
    while alive:
        try:
            pid, status = os.waitpid(-1, 0)  # retried after a signal handler has run (PEP 475)
        except ChildProcessError:
            break
        if pid not in alive:
            continue
        alive.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        # A worker stopped before it had set its own handler ends by the SIGTERM
        # passed on to it; it had claimed nothing, so that is a clean stop too.
        if code == -signal.SIGTERM:
            code = 0
        if code != 0 and worst == 0:
            log.error("worker process %d exited with %d; stopping the others", pid, code)
            _signal_all(alive, signal.SIGTERM)
        worst = max(worst, _exit_code(code))
    return worst


def _exit_code(returncode: int) -> int:
    # A worker killed by a signal reports -signum; the service then failed.
    return returncode if returncode >= 0 else 1


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in list(pids):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
