"""webhook-api.service: verified like the sidecar's unit, running `serve` with the shared settings."""

from __future__ import annotations

from pathlib import Path

from tests.ops.test_systemd_unit import UNIT as SIDECAR_UNIT
from tests.ops.test_systemd_unit import directives, verify

API_UNIT = Path(SIDECAR_UNIT).with_name("webhook-api.service")


def test_the_api_unit_passes_systemd_analyze_verify() -> None:
    done = verify(API_UNIT)
    assert done.returncode == 0, done.stderr
    assert "webhook-api.service is valid" in done.stdout


def test_the_api_unit_runs_serve_as_the_service_user_with_the_same_settings() -> None:
    unit = directives(API_UNIT.read_text())
    assert unit["ExecStart"] == "/opt/webhook-sidecar/.venv/bin/webhook-sidecar serve"
    assert unit["User"] == "webhooks" and unit["EnvironmentFile"] == "/etc/webhook-sidecar/env"
    assert unit["Restart"] == "on-failure" and unit["NoNewPrivileges"] == "yes"


def test_the_api_unit_keeps_every_hardening_line_of_the_sidecar_unit() -> None:
    def hardening(path: Path) -> set[str]:
        return {line for line in path.read_text().splitlines()
                if line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability", "NoNew", "Memory"))}

    assert hardening(API_UNIT) == hardening(SIDECAR_UNIT)
