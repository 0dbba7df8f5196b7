"""Running the real `webhook-sidecar` process against a database, and seeding work for it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from tests.integration.support import Rule, make_rule

EXE = str(Path(sys.executable).parent / "webhook-sidecar")
STOP_LIMIT_S = 60.0
STARTED: list[Sidecar] = []  # every process a scenario started, so none outlives a failed one
_TRANSPORT_VARS = frozenset({
    "DATABASE_URL", "SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL", "SUPABASE_SERVICE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY", "WEBHOOK_DATA_DIR",
})


@dataclass
class Sidecar:
    """One `webhook-sidecar run` process; its output goes to a file, never a pipe that could fill."""

    worker_id: str
    proc: asyncio.subprocess.Process
    output: Path

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)

    async def wait(self, limit_s: float = STOP_LIMIT_S) -> int:
        try:
            async with asyncio.timeout(limit_s):
                return await self.proc.wait()
        except TimeoutError:
            self.kill9()
            await self.proc.wait()
            raise AssertionError(f"sidecar {self.worker_id} did not exit within {limit_s:g} s:\n{self.tail()}") from None

    async def terminate(self, limit_s: float = STOP_LIMIT_S) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait(limit_s)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


def sidecar_env(dsn: str, workdir: Path, worker_id: str, settings: Mapping[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in _TRANSPORT_VARS}
    return {
        **base,
        "DATABASE_URL": dsn,
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WEBHOOK_POLL_INTERVAL_MS": "100",
        "WEBHOOK_WORKER_ID": worker_id,
        "WEBHOOK_DATA_DIR": str(workdir / "unused-embedded"),
        **settings,
    }


async def start_sidecar(dsn: str, workdir: Path, worker_id: str, *args: str,
                        wrapper: tuple[str, ...] = (), **settings: str) -> Sidecar:
    """`webhook-sidecar run` (or `args`), working in `workdir` so no .env of the repo is read."""
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / f"{worker_id}-{time.monotonic_ns()}.log"
    with output.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            *wrapper, EXE, *(args or ("run",)), cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
            stdout=sink, stderr=sink, env=sidecar_env(dsn, workdir, worker_id, settings))
    sidecar = Sidecar(worker_id, proc, output)
    STARTED.append(sidecar)
    return sidecar


async def kill_leftovers() -> None:
    """SIGKILL every sidecar a scenario left running (it failed before stopping them)."""
    while STARTED:
        sidecar = STARTED.pop()
        if sidecar.alive:
            sidecar.kill9()
            await sidecar.proc.wait()


async def wait_until(check: Callable[[], Awaitable[bool]], limit_s: float, what: str,
                     every_s: float = 0.05) -> None:
    """Poll `check` until it is true; fail naming `what` after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {limit_s:g} s for {what}")
        await asyncio.sleep(every_s)


async def queue_counts(db: asyncpg.Connection) -> dict[str, int]:
    rows = await db.fetch("select status::text, count(*) as n from public.webhook_queue group by 1")
    return {r["status"]: int(r["n"]) for r in rows}


async def all_ended(db: asyncpg.Connection) -> bool:
    unfinished = await db.fetchval(
        "select count(*) from public.webhook_queue where status in ('pending', 'processing')")
    return int(unfinished) == 0


async def processing_of(db: asyncpg.Connection, worker_id: str) -> int:
    return int(await db.fetchval(
        "select count(*) from public.webhook_queue where status = 'processing' and locked_by = $1", worker_id))


async def seed_rule(db: asyncpg.Connection, url: str, **config: Any) -> Rule:
    return await make_rule(db, url, **config)


async def seed_leads(db: asyncpg.Connection, rule: Rule, count: int) -> None:
    """`count` leads in one statement; the enqueue trigger makes one delivery each."""
    await db.execute(
        "insert into public.leads (funnel_id, data)"
        " select $1, jsonb_build_object('email', 'lead' || n || '@example.com', 'n', n)"
        " from generate_series(1, $2) as n", rule.funnel_id, count)


async def started(sidecars: list[Sidecar], limit_s: float = 30.0) -> None:
    """Wait until every sidecar says it is delivering (so seeded work is shared from the start)."""
    async def all_delivering() -> bool:
        for sidecar in sidecars:
            assert sidecar.alive, f"sidecar {sidecar.worker_id} exited early:\n{sidecar.tail()}"
        return all("delivering over" in s.text() for s in sidecars)
    await wait_until(all_delivering, limit_s, "every sidecar to start delivering")


def attempts_made(sidecar: Sidecar) -> int:
    """The attempt count a sidecar printed as it stopped."""
    for line in sidecar.text().splitlines():
        if line.startswith("stopped: "):
            return int(line.split()[1])
    raise AssertionError(f"sidecar {sidecar.worker_id} printed no summary:\n{sidecar.tail()}")
