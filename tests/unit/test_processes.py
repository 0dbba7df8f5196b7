"""WEBHOOK_PROCESSES: how the service's limits are shared, and what each worker process is told."""

from __future__ import annotations

import os
import signal
import time
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


def test_auto_is_the_default_one_per_usable_core_at_most_four_and_bad_values_name_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(os.sched_getaffinity(0))
    assert load_settings({"WEBHOOK_PROCESSES": "auto"}, env_file=tmp_path / "n").processes == min(4, cores)
    assert load_settings({}, env_file=tmp_path / "n").processes == min(4, cores)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(16)))
    assert load_settings({}, env_file=tmp_path / "n").processes == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    assert load_settings({"WEBHOOK_PROCESSES": "AUTO"}, env_file=tmp_path / "n").processes == 1
    assert load_settings({"WEBHOOK_PROCESSES": "8"}, env_file=tmp_path / "n").processes == 8
    for bad in ("0", "65", "two"):
        with pytest.raises(SettingsError, match=r"WEBHOOK_PROCESSES=.* or auto"):
            load_settings({"WEBHOOK_PROCESSES": bad}, env_file=tmp_path / "n")


def _sleep() -> int:
    time.sleep(30)
    return 0


def test_workers_ended_by_the_passed_on_sigterm_count_as_a_clean_stop() -> None:
    # The supervisor forwards its own SIGTERM (sent here by the last worker, once it
    # runs); the sleeping workers keep the default handler, so each ends by that
    # signal, which counts as a clean stop.
    def work() -> int:
        if os.environ.get("LAST"):
            os.kill(os.getppid(), signal.SIGTERM)
        return _sleep()

    started = time.monotonic()
    assert processes.run_workers([{}, {"LAST": "1"}], work) == 0
    assert time.monotonic() - started < 10


def test_a_failing_worker_stops_the_others_and_its_code_wins() -> None:
    def work() -> int:
        if os.environ["ROLE"] == "fail":
            return 3
        return _sleep()

    started = time.monotonic()
    assert processes.run_workers([{"ROLE": "fail"}, {"ROLE": "sleep"}], work) == 3
    assert time.monotonic() - started < 10  # the sleeper was stopped, not waited for


def test_each_worker_gets_its_own_environment_and_exit_code() -> None:
    def work() -> int:
        return int(os.environ["CODE"]) if os.environ.get("KEEP") is None else 9

    assert processes.run_workers([{"CODE": "0"}, {"CODE": "0"}], work) == 0
    assert processes.run_workers([{"CODE": "0"}, {"CODE": "4"}], work) == 4


def test_an_exception_in_a_worker_is_exit_1_with_its_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    def work() -> int:
        raise RuntimeError("boom in the worker")

    assert processes.run_workers([{}], work) == 1
    assert "RuntimeError: boom in the worker" in capfd.readouterr().err
