"""The egress guard in a network namespace with only loopback: nothing refused is dialled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.http.netns_deliveries import HOSTS

ROOT = Path(__file__).resolve().parents[2]


def _namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (util-linux, iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating a network namespace with unshare --net needs root"
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"unshare --net is not permitted here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def deliveries() -> dict[str, Any]:
    problem = _namespace_problem()
    if problem is not None:
        pytest.skip(problem)
    script = 'ip link set lo up && exec "$0" -m tests.http.netns_deliveries'
    run = subprocess.run(["unshare", "--net", "sh", "-c", script, sys.executable],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_every_refused_spelling_is_blocked(deliveries: dict[str, Any]) -> None:
    outcomes = deliveries["outcomes"]
    assert sorted(outcomes) == sorted(HOSTS)
    for host, (error_type, message) in outcomes.items():
        assert error_type == "blocked", f"{host}: {error_type} {message}"
        assert message.startswith("refused: "), host


def test_the_receiver_saw_no_connection_until_the_allowed_control(deliveries: dict[str, Any]) -> None:
    assert deliveries["connections"] == 0
    assert deliveries["control"] is True
