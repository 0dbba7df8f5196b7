#!/usr/bin/env bash
# Verify the systemd unit: `systemd-analyze verify` (syntax, directives, values), an
# offline security score, and that TimeoutStopSec outlasts the graceful-shutdown grace.
#
# usage: deploy/verify-unit.sh [UNIT_FILE [ENV_FILE]]
# exit:  0 the unit is sound, 1 it has an error, 77 systemd-analyze is unavailable.
#
# Works without a running systemd (containers, CI): verify only needs the unit's
# executables to exist, so a copy is checked whose Exec* paths point at stubs in a temp dir.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
unit="${1:-$here/systemd/webhook-sidecar.service}"
env_file="${2:-$here/systemd/webhook-sidecar.env.example}"
# An exposure score (x10) above this means hardening was lost; the unit scores about 1.3.
max_exposure=25
tmp=""

fail() { echo "verify-unit: $*" >&2; exit 1; }

ensure_analyze() {
  command -v systemd-analyze >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "verify-unit: installing the Debian package systemd for systemd-analyze" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends systemd >/dev/null || true
  fi
  command -v systemd-analyze >/dev/null 2>&1 && return 0
  echo "verify-unit: systemd-analyze is not available and could not be installed" >&2
  exit 77
}

# Copy the unit under its own name, every Exec* binary replaced by an executable stub.
stage_copy() {
  local copy="$1/$(basename "$unit")" path
  : > "$copy"
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ "$line" =~ ^(Exec[A-Za-z]+=)([-@:+!]*)(/[^[:space:]]+)(.*)$ ]]; then
      path="$1/stubs${BASH_REMATCH[3]}"
      mkdir -p "$(dirname "$path")"
      printf '#!/bin/sh\nexit 0\n' > "$path" && chmod +x "$path"
      line="${BASH_REMATCH[1]}${BASH_REMATCH[2]}${path}${BASH_REMATCH[4]}"
    fi
    printf '%s\n' "$line" >> "$copy"
  done < "$unit"
  echo "$copy"
}

# systemd-analyze exits 0 on unknown keys and unparsable values ("..., ignoring"), so any
# diagnostic that names the unit counts as an error here.
run_verify() {
  local copy="$1" out rc=0
  out="$(systemd-analyze verify --man=no --generators=no "$copy" 2>&1)" || rc=$?
  out="${out//$(dirname "$copy")\/stubs/}"
  out="${out//$copy/$unit}"
  [ -n "$out" ] && printf '%s\n' "$out" >&2
  [ "$rc" = 0 ] || fail "systemd-analyze verify exited $rc"
  if grep -q "$(basename "$unit")" <<<"$out"; then fail "systemd-analyze reported problems in the unit"; fi
}

run_security() {
  local copy="$1" out rc=0
  out="$(systemd-analyze security --offline=yes --no-pager --threshold="$max_exposure" "$copy" 2>&1)" || rc=$?
  grep "Overall exposure" <<<"$out" || true
  [ "$rc" = 0 ] || fail "hardening lost: exposure above $((max_exposure / 10)).$((max_exposure % 10))"
}

seconds_of() {  # "30", "30s", "1min" -> seconds; anything fancier is refused
  case "$1" in
    *min) echo $(( ${1%min} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

check_stop_timeout() {
  local stop grace
  stop="$(sed -n 's/^TimeoutStopSec=//p' "$unit" | tail -n1)"
  [ -n "$stop" ] || fail "TimeoutStopSec is not set: systemd's 90 s default hides a hung stop"
  [[ "$(seconds_of "$stop")" =~ ^[0-9]+$ ]] || fail "TimeoutStopSec=$stop: use whole seconds"
  grace=""
  if [ -f "$env_file" ]; then
    grace="$(sed -n 's/^#* *WEBHOOK_SHUTDOWN_GRACE_SECONDS= *//p' "$env_file" | tail -n1)"
  fi
  grace="${grace:-20}"
  grace="${grace%%.*}"
  [ "$(seconds_of "$stop")" -gt "$grace" ] \
    || fail "TimeoutStopSec=$stop must exceed WEBHOOK_SHUTDOWN_GRACE_SECONDS=$grace, or systemd kills in-flight records"
  echo "TimeoutStopSec=$stop outlasts WEBHOOK_SHUTDOWN_GRACE_SECONDS=$grace"
}

main() {
  [ -f "$unit" ] || fail "no such unit file: $unit"
  ensure_analyze
  local copy
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  copy="$(stage_copy "$tmp")"
  run_verify "$copy"
  run_security "$copy"
  check_stop_timeout
  echo "verify-unit: $(basename "$unit") is valid"
}

main
