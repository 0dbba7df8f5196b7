"""`webhook-sidecar doctor`: check each precondition and say what to fix when one fails.

A check is pass, warn, fail or skip; only `fail` makes doctor exit 1. Checks that need
SQL (migrations, pg_cron, clock) run on a direct connection: DATABASE_URL, or a DSN
the caller passes (the embedded cluster). On the Supabase path the database is
reached through `ping` (any cheap RPC) and the SQL-only checks are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import json
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from sidecar.ops import migrate
from sidecar.ops.metrics import DEFAULT_HOST
from sidecar.settings import Settings, SettingsError

Status = Literal["pass", "warn", "fail", "skip"]
Ping = Callable[[], Awaitable[object]]

CRON_JOBS = ("webhooks-requeue-stale", "webhooks-purge-logs", "webhooks-purge-rate-limit-log")
MAX_CLOCK_SKEW_S = 2.0
CONNECT_TIMEOUT_S = 5.0

_CRON_SCHEDULES = (
    "select cron.schedule('webhooks-requeue-stale', '* * * * *', 'select public.requeue_stale_webhook_jobs()'); "
    "select cron.schedule('webhooks-purge-logs', '17 3 * * *', 'select public.purge_webhook_logs()'); "
    "select cron.schedule('webhooks-purge-rate-limit-log', '7 * * * *', 'select public.purge_api_rate_limit_log()')"
)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report; `fix` says what to do when it is not a pass."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "fail"


# -- entry point ---------------------------------------------------------------


async def run_checks(
    settings: Settings | Callable[[], Settings],
    *,
    ping: Ping | None = None,
    dsn: str | None = None,
    metrics_host: str = DEFAULT_HOST,
    migrations_dir: Path | None = None,
    wall_clock: Callable[[], float] = time.time,
    max_clock_skew_s: float = MAX_CLOCK_SKEW_S,
) -> list[Check]:
    """Every check in report order. `settings` may be a loader, so bad settings become a check."""
    first, loaded = settings_check(settings)
    if loaded is None:
        return [first]
    checks = [first]
    checks += await database_checks(loaded, ping, dsn or loaded.database_url, migrations_dir,
                                    wall_clock, max_clock_skew_s)
    checks.append(egress_check(loaded))
    checks.append(await metrics_port_check(loaded.metrics_port, metrics_host))
    return checks


def exit_code(checks: Sequence[Check]) -> int:
    return 0 if all(check.ok for check in checks) else 1


# -- settings --------------------------------------------------------------------


def settings_check(settings: Settings | Callable[[], Settings]) -> tuple[Check, Settings | None]:
    if not isinstance(settings, Settings):
        try:
            settings = settings()
        except SettingsError as exc:
            fix = "correct it in the environment, /etc/webhook-sidecar/env or .env (.env.example lists every setting)"
            return Check("settings", "fail", str(exc), fix), None
    return _transport_check(settings), settings


def _transport_check(settings: Settings) -> Check:
    if settings.transport == "supabase":
        problem = service_key_problem(settings.supabase_service_key or "")
        if problem:
            return Check("settings", "fail", problem,
                         "use the service_role key (Dashboard → Project Settings → API) in SUPABASE_SERVICE_KEY")
        return Check("settings", "pass", f"Supabase RPC transport: {settings.supabase_url}")
    if settings.transport == "embedded":
        return Check("settings", "pass",
                     f"embedded PostgreSQL under {settings.data_dir} (neither DATABASE_URL nor SUPABASE_URL is set)")
    detail = f"direct transport: {describe_dsn(settings.database_url or '')} (DATABASE_URL)"
    if settings.direct_overrides_supabase:
        return Check("settings", "warn", f"{detail}; SUPABASE_URL is also set and is ignored",
                     "unset the one you do not mean to use")
    return Check("settings", "pass", detail)


def service_key_problem(key: str) -> str | None:
    """Why a Supabase key cannot call the internal RPCs, or None when it looks like a service key."""
    # Publishable/anon keys pass PostgREST but every internal RPC then answers "permission denied".
    if key.startswith("sb_publishable_"):
        return "SUPABASE_SERVICE_KEY is a publishable key; the internal RPCs need the secret (service_role) key"
    role = _jwt_role(key)
    if role is not None and role != "service_role":
        return f"SUPABASE_SERVICE_KEY is a JWT for role {role!r}; the internal RPCs need the service_role key"
    return None


def _jwt_role(token: str) -> str | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    role = claims.get("role") if isinstance(claims, dict) else None
    return role if isinstance(role, str) else None


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, never its password."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}/{parts.path.lstrip('/') or parts.username or 'postgres'}"


# -- database ------------------------------------------------------------------------


async def database_checks(
    settings: Settings,
    ping: Ping | None,
    dsn: str | None,
    migrations_dir: Path | None,
    wall_clock: Callable[[], float],
    max_skew_s: float,
) -> list[Check]:
    if dsn is None:
        return await _checks_without_sql(settings, ping)
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any connect failure is the finding itself
        unreachable = "database unreachable"
        return [connect_failure(dsn, exc)] + [Check(n, "skip", unreachable) for n in ("migrations", "cron", "clock")]
    try:
        version = conn.get_server_version()
        return [
            Check("database", "pass", f"connected to {describe_dsn(dsn)} (PostgreSQL {version.major})"),
            await _guarded("migrations", migrations_check(conn, migrations_dir)),
            await _guarded("cron", cron_check(conn)),
            await _guarded("clock", clock_check(conn, wall_clock, max_skew_s)),
            await _guarded("paused", paused_check(conn)),
        ]
    finally:
        await conn.close()


async def _guarded(name: str, check: Awaitable[Check]) -> Check:
    """A check that errors is a failed check with the error, not a doctor crash."""
    try:
        return await check
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return Check(name, "fail", f"could not check: {type(exc).__name__}: {exc}",
                     "run doctor as the database owner, and check the database log")


def connect_failure(dsn: str, exc: BaseException) -> Check:
    where = describe_dsn(dsn)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, asyncpg.InvalidPasswordError):
        fix = "correct the user or password in DATABASE_URL"
    elif isinstance(exc, asyncpg.InvalidCatalogNameError):
        fix = "create the database or correct its name in DATABASE_URL"
    elif isinstance(exc, (OSError, asyncio.TimeoutError)):
        reason = _network_reason(exc, reason)
        fix = (f"start PostgreSQL or correct the host and port in DATABASE_URL; make sure {where.split('/')[0]} "
               "accepts connections from this host (listen_addresses, pg_hba.conf, firewall)")
    else:
        fix = "check DATABASE_URL (user, password, host, port, database, sslmode)"
    return Check("database", "fail", f"cannot connect to {where}: {reason}", fix)


def _network_reason(exc: BaseException, fallback: str) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    return fallback


async def _checks_without_sql(settings: Settings, ping: Ping | None) -> list[Check]:
    if settings.transport == "supabase":
        database = await ping_check(settings.supabase_url or "", ping)
        why = "needs SQL access: set DATABASE_URL (Dashboard → Connect) to check it"
    else:
        database = Check("database", "skip", f"embedded cluster under {settings.data_dir} is started by `run`")
        why = "embedded cluster: checked once it is running"
    return [database] + [Check(name, "skip", why) for name in ("migrations", "cron", "clock")]


async def ping_check(url: str, ping: Ping | None) -> Check:
    if ping is None:
        return Check("database", "skip", "no RPC probe given")
    try:
        await asyncio.wait_for(ping(), CONNECT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        return Check("database", "fail", f"RPC to {url} failed: {type(exc).__name__}: {exc}",
                     "check SUPABASE_URL and SUPABASE_SERVICE_KEY, that the project is not paused, "
                     "and that the migrations are pushed (supabase db push)")
    return Check("database", "pass", f"RPC to {url} answered")


async def migrations_check(conn: asyncpg.Connection, directory: Path | None) -> Check:
    try:
        known = migrate.discover(directory)
    except migrate.MigrationError as exc:
        return Check("migrations", "fail", str(exc), "run doctor from the project checkout that holds supabase/migrations")
    applied = await migrate.applied_versions(conn)
    missing = [f"{m.version}_{m.name}" for m in known if m.version not in applied]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return Check("migrations", "fail", f"{len(missing)} of {len(known)} migrations not applied: {shown}",
                     "run `webhook-sidecar db migrate` (or `supabase db push` from the project)")
    if not known:
        return Check("migrations", "warn", "no migration files found", "run doctor from the project checkout")
    return Check("migrations", "pass", f"all {len(known)} migrations applied (latest {known[-1].version})")


async def cron_check(conn: asyncpg.Connection) -> Check:
    fix = f"enable pg_cron in this database, then: {_CRON_SCHEDULES} — or run those functions from another scheduler"
    if not await conn.fetchval("select exists (select 1 from pg_extension where extname = 'pg_cron')"):
        return Check("cron", "fail", "pg_cron is not installed in this database: nothing requeues expired leases "
                     "or purges old logs", fix)
    try:
        rows = await conn.fetch(
            "select jobname, coalesce((to_jsonb(j) ->> 'active')::boolean, true) as active"
            " from cron.job j where jobname = any($1::text[])", list(CRON_JOBS))
    except asyncpg.InsufficientPrivilegeError:
        return Check("cron", "warn", "cannot read cron.job as this user", "run doctor as the database owner")
    return _cron_verdict({row["jobname"]: row["active"] for row in rows}, fix)


def _cron_verdict(found: dict[str, bool], fix: str) -> Check:
    missing = [name for name in CRON_JOBS if name not in found]
    if missing:
        return Check("cron", "fail", f"pg_cron job(s) missing: {', '.join(missing)}", fix)
    inactive = [name for name, active in found.items() if not active]
    if inactive:
        return Check("cron", "fail", f"pg_cron job(s) inactive: {', '.join(inactive)}",
                     "select cron.alter_job(jobid, active := true) from cron.job where jobname like 'webhooks-%'")
    return Check("cron", "pass", f"pg_cron jobs scheduled: {', '.join(CRON_JOBS)}")


async def clock_check(conn: asyncpg.Connection, wall_clock: Callable[[], float], max_skew_s: float) -> Check:
    """Compare the database's clock with ours, allowing half the round trip as uncertainty."""
    before = wall_clock()
    db_now = float(await conn.fetchval("select extract(epoch from clock_timestamp())::float8"))
    after = wall_clock()
    skew = db_now - (before + after) / 2
    direction = "ahead of" if skew >= 0 else "behind"
    detail = f"database clock is {abs(skew):.3f} s {direction} this host"
    if abs(skew) - (after - before) / 2 <= max_skew_s:
        return Check("clock", "pass", detail)
    # Retries are timed by the database clock, webhook-timestamp by ours: receivers reject stale signatures.
    return Check("clock", "fail", f"{detail} (limit {max_skew_s:g} s)",
                 "sync both hosts with NTP (timedatectl set-ntp true, or chrony)")


# -- local ---------------------------------------------------------------------------


PAUSED_SQL = """
select r.id, r.client_name, c.paused_reason,
       (select count(*) from public.webhook_queue q
        where q.routing_rule_id = r.id and q.status = 'pending' and q.held) as held
from public.webhook_configs c
join public.routing_rules r on r.id = c.routing_rule_id
where c.paused_at is not null
order by c.paused_at
"""


async def paused_check(conn: asyncpg.Connection) -> Check:
    """A paused rule holds its deliveries until someone resumes it: worth a warning, not a failure."""
    if await conn.fetchval("select to_regclass('public.webhook_events') is null"):
        return Check("paused", "skip", "pause is not in this database yet (migrations pending)")
    rows = await conn.fetch(PAUSED_SQL)
    if not rows:
        return Check("paused", "pass", "no routing rule is paused")
    shown = "; ".join(f"{r['id']} ({r['client_name']}): {r['paused_reason']}, {r['held']} held" for r in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return Check("paused", "warn", f"{len(rows)} paused rule(s): {shown}{more}",
                 "fix the endpoint, `webhook-sidecar test RULE_ID`, then `webhook-sidecar resume RULE_ID`")


def egress_check(settings: Settings) -> Check:
    if not settings.allow_private_targets:
        return Check("egress", "pass", "webhooks to loopback, private and other non-global addresses are refused "
                     "(WEBHOOK_ALLOW_PRIVATE_TARGETS=false)")
    return Check("egress", "warn", "WEBHOOK_ALLOW_PRIVATE_TARGETS=true: a rule's URL may reach this host, its "
                 "database and cloud metadata addresses",
                 "set it to false unless every receiver is on a private network you trust")


async def metrics_port_check(port: int | None, host: str) -> Check:
    if port is None:
        return Check("metrics", "pass", "off (WEBHOOK_METRICS_PORT is empty): no /metrics or /healthz")
    if port == 0:
        return Check("metrics", "warn", "WEBHOOK_METRICS_PORT=0 picks a new port at every start",
                     "set a fixed port, e.g. 9464, so Prometheus can find it")
    problem = _bind_problem(host, port)
    if problem is None:
        return Check("metrics", "pass", f"{host}:{port} is free")
    if problem == errno.EADDRINUSE:
        return await _port_in_use(host, port)
    return Check("metrics", "fail", f"cannot listen on {host}:{port}: {errno.errorcode.get(problem, problem)}",
                 "use a port from 1024 to 65535 on an address of this host")


def _bind_problem(host: str, port: int) -> int | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Same option as the server, so a port in TIME_WAIT counts as free, as it will be.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno or -1
    return None


async def _port_in_use(host: str, port: int) -> Check:
    health = await _probe_health(host, port)
    if health is not None:
        return Check("metrics", "pass", f"{host}:{port} is served by a running sidecar (/healthz: {health})")
    return Check("metrics", "fail", f"{host}:{port} is in use by another process",
                 f"stop it (ss -ltnp 'sport = :{port}' shows which) or choose another WEBHOOK_METRICS_PORT")


async def _probe_health(host: str, port: int) -> str | None:
    """The /healthz text when a sidecar already listens there, else None."""
    url_host = f"[{host}]" if ":" in host else host
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.get(f"http://{url_host}:{port}/healthz") as response:
                text = (await response.text()).strip()
                return text if response.status in (200, 503) and (text == "ok" or "database" in text) else None
    except (aiohttp.ClientError, asyncio.TimeoutError, UnicodeDecodeError):
        return None


# -- output ----------------------------------------------------------------------------


def format_checks(checks: Sequence[Check]) -> str:
    """A table for people: status, name, detail, and an indented fix under anything not passing."""
    width = max((len(check.name) for check in checks), default=0)
    lines = []
    for check in checks:
        lines.append(f"{check.status.upper():<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status in ("fail", "warn"):
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    lines.append(_summary(checks))
    return "\n".join(lines)


def _summary(checks: Sequence[Check]) -> str:
    counts = {status: sum(check.status == status for check in checks) for status in ("fail", "warn", "skip")}
    tail = f"{counts['warn']} warning(s), {counts['skip']} skipped"
    if counts["fail"]:
        return f"{counts['fail']} of {len(checks)} checks failed; {tail}"
    return f"no check failed ({len(checks)} checks; {tail})"


def checks_json(checks: Sequence[Check]) -> str:
    """The `--json` form: {"ok": bool, "checks": [{name, status, ok, detail, fix}, ...]}."""
    rows = [{**asdict(check), "ok": check.ok} for check in checks]
    return json.dumps({"ok": all(check.ok for check in checks), "checks": rows}, indent=2)
