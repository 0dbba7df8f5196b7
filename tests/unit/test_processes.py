"""WEBHOOK_PROCESSES: how the service's limits are shared, and what each worker process is told."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from sidecar.ops import processes
from sidecar.ops.processes import child_environments, share
from sidecar.settings import SettingsError, load_settings


@pytest.mark.parametrize("total, count", [(50, 2), (50, 3), (7, 7), (20, 6), (1, 4), (10_000, 64)])
def test_shares_add_up_to_the_total_and_differ_by_at_most_one(total: int, count: int) -> None:
    parts = [share(total, count, i) for i in range(count)]
    assert min(parts) >= 1
    assert max(parts) - min(parts) <= 1
    assert sum(parts) == max(total, count)  # below one each, every process still gets one


def test_each_process_gets_its_share_its_own_id_and_metrics_port(tmp_path: Path) -> None:
    settings = load_settings({"WEBHOOK_PROCESSES": "3", "WEBHOOK_CONCURRENCY": "50",
                              "WEBHOOK_PER_HOST_CONCURRENCY": "20", "WEBHOOK_WORKER_ID": "box",
                              "WEBHOOK_METRICS_PORT": "9100"}, env_file=tmp_path / "none")
    envs = child_environments(settings, {"KEEP": "me"}, dsn=None)

    assert [e["WEBHOOK_CONCURRENCY"] for e in envs] == ["17", "17", "16"]
    assert [e["WEBHOOK_PER_HOST_CONCURRENCY"] for e in envs] == ["7", "7", "6"]
    assert [e["WEBHOOK_WORKER_ID"] for e in envs] == ["box-1", "box-2", "box-3"]
    assert [e["WEBHOOK_METRICS_PORT"] for e in envs] == ["9100", "9101", "9102"]
    assert {e["WEBHOOK_PROCESSES"] for e in envs} == {"1"}
    assert all(e["KEEP"] == "me" and "DATABASE_URL" not in e for e in envs)


def test_the_embedded_cluster_is_handed_to_every_process(tmp_path: Path) -> None:
    settings = load_settings({"WEBHOOK_PROCESSES": "2"}, env_file=tmp_path / "none")
    envs = child_environments(settings, {}, dsn="postgresql://127.0.0.1:5999/postgres")
    assert {e["DATABASE_URL"] for e in envs} == {"postgresql://127.0.0.1:5999/postgres"}
    assert all("WEBHOOK_METRICS_PORT" not in e for e in envs)


def test_auto_is_one_per_usable_core_and_bad_values_name_the_setting(tmp_path: Path) -> None:
    assert load_settings({"WEBHOOK_PROCESSES": "auto"}, env_file=tmp_path / "n").processes == len(os.sched_getaffinity(0))
    assert load_settings({}, env_file=tmp_path / "n").processes == 1
    for bad in ("0", "65", "two"):
        with pytest.raises(SettingsError, match=r"WEBHOOK_PROCESSES=.* or auto"):
            load_settings({"WEBHOOK_PROCESSES": bad}, env_file=tmp_path / "n")


async def test_workers_ended_by_the_passed_on_sigterm_count_as_a_clean_stop() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    children = [await asyncio.create_subprocess_exec(*sleeper) for _ in range(2)]
    waiting = asyncio.create_task(processes._wait_all(children))
    processes._signal_all(children, signal.SIGTERM)
    assert await asyncio.wait_for(waiting, 10) == 0


async def test_a_failing_worker_stops_the_others_and_its_code_wins() -> None:
    failing = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(3)")
    sleeping = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
    assert await asyncio.wait_for(processes._wait_all([failing, sleeping]), 10) == 3
    assert sleeping.returncode is not None
