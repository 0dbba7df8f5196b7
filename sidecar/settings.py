"""Settings from the environment, then `.env` in the working directory, validated once.

The environment wins over `.env`; `os.environ` is never modified. A bad value raises
`SettingsError` with a one-line message naming the variable and what it accepts.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from sidecar.errors import ConfigError

Transport = Literal["direct", "supabase", "embedded"]
LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]
T = TypeVar("T", int, float)
S = TypeVar("S", bound=str)

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ConfigError, ValueError):
    """A setting is missing, malformed or out of range; the message is one line."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting DESIGN.md names, typed and checked."""

    database_url: str | None
    supabase_url: str | None
    supabase_service_key: str | None
    concurrency: int = 50
    processes: int = 1
    per_host_concurrency: int = 20
    batch_size: int = 50
    poll_interval_ms: int = 500
    lease_seconds: int = 60
    shutdown_grace_seconds: float = 20.0
    allow_private_targets: bool = False
    max_response_bytes: int = 65536
    worker_id: str = ""
    metrics_port: int | None = None
    data_dir: Path = Path(".webhooks")
    log_format: LogFormat = "text"
    log_level: LogLevel = "info"
    http_host: str = "127.0.0.1"
    http_port: int = 8787
    supabase_anon_key: str | None = None
    supabase_jwt_secret: str | None = None
    supabase_jwks_url: str | None = None

    @property
    def transport(self) -> Transport:
        """Which RPC transport start-up wires: DATABASE_URL wins, then Supabase, else embedded."""
        if self.database_url:
            return "direct"
        if self.supabase_url:
            return "supabase"
        return "embedded"

    @property
    def direct_overrides_supabase(self) -> bool:
        """True when both DATABASE_URL and SUPABASE_URL are set, so start-up can say which won."""
        return bool(self.database_url and self.supabase_url)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Read settings from `environ` (default os.environ) over `env_file` (default ./.env)."""
    merged = _merged_sources(os.environ if environ is None else environ, env_file)
    return _build(_Reader(merged))


def _merged_sources(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    path = env_file if env_file is not None else Path.cwd() / ".env"
    if path.is_file():
        from dotenv import dotenv_values  # on use: ~10 ms of start-up that most runs, without a .env, skip

        from_file = dotenv_values(path)
    else:
        from_file = {}
    merged = {k: v for k, v in from_file.items() if v is not None}
    merged.update(environ)
    return merged


def _build(r: _Reader) -> Settings:
    supabase_url = r.text("SUPABASE_URL") or r.text("NEXT_PUBLIC_SUPABASE_URL")
    service_key = r.text("SUPABASE_SERVICE_KEY") or r.text("SUPABASE_SERVICE_ROLE_KEY")
    database_url = r.text("DATABASE_URL")
    _check_transport(database_url, supabase_url, service_key)
    return Settings(
        database_url=database_url,
        supabase_url=supabase_url,
        supabase_service_key=service_key,
        concurrency=r.integer("WEBHOOK_CONCURRENCY", 50, 1, 10_000),
        processes=_processes(r),
        per_host_concurrency=r.integer("WEBHOOK_PER_HOST_CONCURRENCY", 20, 1, 10_000),
        batch_size=r.integer("WEBHOOK_BATCH_SIZE", 50, 1, 10_000),
        poll_interval_ms=r.integer("WEBHOOK_POLL_INTERVAL_MS", 500, 10, 3_600_000),
        lease_seconds=r.integer("WEBHOOK_LEASE_SECONDS", 60, 5, 86_400),
        shutdown_grace_seconds=r.number("WEBHOOK_SHUTDOWN_GRACE_SECONDS", 20.0, 0.0, 3600.0),
        allow_private_targets=r.boolean("WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
        max_response_bytes=r.integer("WEBHOOK_MAX_RESPONSE_BYTES", 65536, 0, 1 << 30),
        worker_id=r.text("WEBHOOK_WORKER_ID") or default_worker_id(),
        metrics_port=r.optional_integer("WEBHOOK_METRICS_PORT", 0, 65535),
        data_dir=Path(r.text("WEBHOOK_DATA_DIR") or ".webhooks"),
        log_format=r.choice("WEBHOOK_LOG_FORMAT", ("text", "json"), "text"),
        log_level=r.choice("WEBHOOK_LOG_LEVEL", ("debug", "info", "warning", "error"), "info"),
        **_http_settings(r, supabase_url),
    )


def _http_settings(r: _Reader, supabase_url: str | None) -> dict[str, Any]:
    """The settings of `serve`: where it listens, and how it checks Supabase access tokens."""
    jwks = r.text("SUPABASE_JWKS_URL") or (
        f"{supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json" if supabase_url else None)
    return {
        "http_host": r.text("WEBHOOK_HTTP_HOST") or "127.0.0.1",
        "http_port": r.integer("WEBHOOK_HTTP_PORT", 8787, 0, 65535),
        "supabase_anon_key": r.text("SUPABASE_ANON_KEY") or r.text("NEXT_PUBLIC_SUPABASE_ANON_KEY"),
        "supabase_jwt_secret": r.text("SUPABASE_JWT_SECRET"),
        "supabase_jwks_url": jwks,
    }


MAX_PROCESSES = 64
# `auto` stops here: a worker on the direct transport holds up to 5 database connections
# (sidecar/store/direct.py: its pool and its LISTEN), and hosted plans limit direct
# connections by compute size.
AUTO_MAX_PROCESSES = 4


def _processes(r: _Reader) -> int:
    """WEBHOOK_PROCESSES: worker processes of one `run`; `auto` (the default) is one per usable core, up to AUTO_MAX_PROCESSES."""
    if (r.text("WEBHOOK_PROCESSES") or "auto").lower() == "auto":
        try:
            cores = len(os.sched_getaffinity(0))
        except OSError:  # a seccomp filter may refuse it
            cores = os.cpu_count() or 1
        return min(AUTO_MAX_PROCESSES, cores)
    try:
        return r.integer("WEBHOOK_PROCESSES", 1, 1, MAX_PROCESSES)
    except SettingsError as exc:
        raise SettingsError(f"{exc}, or auto (one per core, at most {AUTO_MAX_PROCESSES})") from None


def _check_transport(database_url: str | None, url: str | None, key: str | None) -> None:
    # The direct path needs no key, so a Supabase URL without one only matters when it is used.
    if database_url is None and url is not None and key is None:
        raise SettingsError(
            "SUPABASE_URL is set but SUPABASE_SERVICE_KEY (or SUPABASE_SERVICE_ROLE_KEY) is not: "
            "set the service role key, or set DATABASE_URL instead"
        )
    if database_url is not None and not database_url.startswith(("postgresql://", "postgres://")):
        raise SettingsError("DATABASE_URL must be a postgresql://… connection URL")


class _Reader:
    """Typed access to the merged variables; empty values count as unset."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def text(self, name: str) -> str | None:
        value = self._values.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        allowed = f"an integer from {low} to {high}"
        return self._parsed(name, default, int, allowed, low, high)

    def number(self, name: str, default: float, low: float, high: float) -> float:
        allowed = f"a number of seconds from {low:g} to {high:g}"
        return self._parsed(name, default, float, allowed, low, high)

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        if self.text(name) is None:
            return None
        return self.integer(name, 0, low, high)

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise SettingsError(f"{name}={raw!r} is not allowed: use true or false")

    def choice(self, name: str, options: tuple[S, ...], default: S) -> S:
        raw = self.text(name)
        if raw is None:
            return default
        for option in options:
            if raw.lower() == option:
                return option
        raise SettingsError(f"{name}={raw!r} is not allowed: use one of {', '.join(options)}")

    def _parsed(
        self, name: str, default: T, parse: Callable[[str], T], allowed: str, low: T, high: T
    ) -> T:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not allowed: use {allowed}") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}={raw!r} is out of range: use {allowed}")
        return value
