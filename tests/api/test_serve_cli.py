"""`webhook-sidecar serve` on the embedded default, and its refusals of bad settings (exit 2)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from sidecar.ops.embedded import LocalCluster, free_port
from tests.api.conftest import CONSOLE, JWT_SECRET, mint_jwt, stop

CLEAN = ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_SERVICE_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_ANON_KEY",
         "NEXT_PUBLIC_SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_ANON_KEY", "WEBHOOK_DATA_DIR")


def env(**values: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in CLEAN}
    return {**base, **values}


def test_serve_on_the_embedded_default_answers_as_the_signed_in_owner(tmp_path: Path) -> None:
    data, port = tmp_path / "webhooks", free_port()
    process = subprocess.Popen([str(CONSOLE), "serve"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env=env(WEBHOOK_DATA_DIR=str(data), WEBHOOK_HTTP_PORT=str(port),
                                       SUPABASE_JWT_SECRET=JWT_SECRET))
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "API and dashboard on" in line:
                break
        assert any("embedded PostgreSQL" in line for line in lines), lines
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/webhooks/rules",
                           headers={"Authorization": f"Bearer {mint_jwt('aaaaaaaa-0000-4000-8000-000000000009')}"})
        page = httpx.get(f"http://127.0.0.1:{port}/")
        asset = httpx.get(f"http://127.0.0.1:{port}/assets/app.js")
    finally:
        assert stop(process) == 0
        LocalCluster(root=data).destroy()
    assert answer.status_code == 200 and answer.json() == {"data": []}
    assert page.status_code == 200 and "/assets/app.js" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert asset.status_code == 200 and "sessionStorage" in asset.text


def test_serve_over_supabase_without_the_anon_key_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([str(CONSOLE), "serve"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=env(SUPABASE_URL="https://abc.supabase.co", SUPABASE_SERVICE_KEY="service"))
    assert done.returncode == 2
    assert "SUPABASE_ANON_KEY" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_bad_http_port_exits_2_naming_the_setting(tmp_path: Path) -> None:
    done = subprocess.run([str(CONSOLE), "serve"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=env(DATABASE_URL="postgresql://127.0.0.1:1/x", WEBHOOK_HTTP_PORT="http"))
    assert done.returncode == 2 and "WEBHOOK_HTTP_PORT" in done.stderr
