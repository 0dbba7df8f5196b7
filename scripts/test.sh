#!/usr/bin/env bash
# The whole test suite: pytest (unit, integration against a real PostgreSQL 15 with
# pg_cron and pgTAP started in a temp dir, HTTP against real servers on 127.0.0.1,
# the pgTAP files through pg_prove, and one `supabase db push` with the real CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

# systemd-analyze, for the test that verifies deploy/systemd/webhook-sidecar.service.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

# Headless Chromium and its driver from Debian, for the dashboard's browser test
# (tests/browser); Selenium is given their paths, so it downloads nothing.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

# The Supabase CLI, pinned, for the test that applies the migrations the usual way.
if [ ! -x .tools/node_modules/.bin/supabase ]; then
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --silent -E supabase@2.117.0 >/dev/null
fi
export SUPABASE_CLI="$PWD/.tools/node_modules/.bin/supabase"

# Lint and strict types first: cheap, and a failure names the line.
.venv/bin/ruff check sidecar tests bench scripts
.venv/bin/mypy

exec .venv/bin/pytest -q "$@"
