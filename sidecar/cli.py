"""`webhook-sidecar`: the commands, and the one place that wires the pieces together.

Exit codes: 0 success; 2 bad usage or configuration (one line on stderr); 1 anything
else (database refused or unreachable, a delivery that could not be recorded, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import math
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from uuid import UUID

import asyncpg
from tenacity import RetryCallState

from sidecar.delivery.attempt import Deliverer
from sidecar.errors import ConfigError, exit_code_for
from sidecar.events import WorkerEvents
from sidecar.fanout import FanOut
from sidecar.ops import render
from sidecar.ops.logs import AttemptLog, configure_logging
from sidecar.retry import db_retrying
from sidecar.settings import Settings, load_settings
from sidecar.store import Row, Store, StoreError, is_transient, with_retries
from sidecar.store.direct import DirectStore
from sidecar.worker.loop import Worker, WorkerOptions

# Loaded by the commands that use them: `run` without a metrics port never needs
# aiohttp's server or prometheus_client, and start-up counts in a short run.
if TYPE_CHECKING:
    from sidecar.api.store import ApiStore
    from sidecar.ops import migrate
    from sidecar.ops.metrics import Metrics, QueueSnapshot

PROG = "webhook-sidecar"
REPLAY_WAIT_S = 330.0  # the longest timeout a config allows (300 s) plus a margin
LOG_COLUMNS = (
    ("created_at", "time"), ("id", "log id"), ("status", "status"), ("attempt", "attempt"),
    ("response_status", "http"), ("duration_ms", "ms"), ("error", "error"),
)
QUEUE_COLUMNS = (
    ("status", "status"), ("deliveries", "deliveries"), ("due_now", "due now"),
    ("oldest_scheduled_at", "oldest scheduled"), ("next_scheduled_at", "next retry due"),
)
HELD_COLUMNS = (
    ("routing_rule_id", "rule"), ("client_name", "client"), ("held", "held"), ("reason", "why"),
    ("paused_reason", "pause reason"),
)
PAUSE_KEYS = ("routing_rule_id", "paused_at", "paused_reason", "auto_pause_after_failures", "consecutive_failures")
SECRET_FIELDS = ("signing_secret", "previous_signing_secret")
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
STATS_KEYS = ("total_calls", "success_calls", "failed_calls", "avg_duration_ms", "success_rate")
CONFIG_KEYS = (
    "routing_rule_id", "client_name", "webhook_url", "is_active", "timeout_ms", "retry_enabled",
    "max_retries", "retry_delay_ms", "retry_backoff_multiplier", "custom_headers", "signing_secret",
    "updated_at",
)


class UsageError(ConfigError):
    """Bad usage or configuration: exit 2 with this one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- the parser ---------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Signed, logged, retried webhook delivery for Supabase apps.")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="deliver webhooks until stopped (SIGTERM/SIGINT)")
    run.add_argument("--once", action="store_true", help="exit when nothing is due now and nothing is in flight")
    replay = commands.add_parser("replay", help="deliver a logged call again and print the new attempt")
    replay.add_argument("log_id", type=UUID, metavar="LOG_ID")
    stats = commands.add_parser("stats", help="calls, failures and success rate of a routing rule")
    stats.add_argument("rule_id", type=UUID, metavar="RULE_ID")
    stats.add_argument("--days", type=int, default=7)
    logs = commands.add_parser("logs", help="recent attempts, newest first")
    logs.add_argument("--rule", type=UUID, metavar="ID")
    logs.add_argument("--status", choices=("success", "failed", "retrying", "pending"))
    logs.add_argument("--limit", type=int, default=20)
    commands.add_parser("queue", help="deliveries per queue status, and held deliveries per rule")
    _add_endpoint_parsers(commands)
    _add_config_parser(commands)
    database = commands.add_parser("db", help="database tasks")
    db_commands = database.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("migrate", help="apply pending migrations from supabase/migrations")
    commands.add_parser("doctor", help="check settings, database, migrations, pg_cron, clock, egress")
    commands.add_parser("serve", help="the HTTP API v1 and dashboard on WEBHOOK_HTTP_HOST:WEBHOOK_HTTP_PORT")
    for sub in commands.choices.values():
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _add_endpoint_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    """The commands for a client endpoint that is down: pause, recover or cancel, test, resume."""
    for name, text in (("pause", "hold a rule's deliveries (nothing is sent or failed) until resumed"),
                       ("resume", "send a paused rule's held deliveries again"),
                       ("cancel", "end every pending delivery of a rule as failed (cancelled), unsent"),
                       ("test", "send a test delivery to a rule (even while paused) and print its attempt")):
        commands.add_parser(name, help=text).add_argument("rule_id", type=UUID, metavar="RULE_ID")
    recover = commands.add_parser("recover", help="send again the failed deliveries of a rule in a time range")
    recover.add_argument("rule_id", type=UUID, metavar="RULE_ID")
    recover.add_argument("--since", required=True, metavar="WHEN", help="timestamp, or a duration back from now: 2h, 3d, 30m")
    recover.add_argument("--until", metavar="WHEN", help="timestamp or duration back from now (default: now)")


def _add_config_parser(commands: argparse._SubParsersAction[Any]) -> None:
    config = commands.add_parser("config", help="show or change a routing rule's webhook config")
    config.add_argument("rule_id", type=UUID, metavar="RULE_ID")
    config.add_argument("--timeout-ms", type=int)
    config.add_argument("--max-retries", type=int)
    config.add_argument("--retry-delay-ms", type=int)
    config.add_argument("--multiplier", type=float)
    config.add_argument("--retry", dest="retry_enabled", action=argparse.BooleanOptionalAction, default=None)
    config.add_argument("--header", action="append", default=[], metavar="'Name: value'")
    config.add_argument("--remove-header", action="append", default=[], metavar="NAME")
    config.add_argument("--auto-pause-after-failures", type=int, metavar="N",
                        help="pause the rule after N failed deliveries in a row (0: off)")
    config.add_argument("--max-requests-per-second", type=float, metavar="X", help="rate limit (0: none)")
    config.add_argument("--secret-overlap-hours", type=int, metavar="N",
                        help="hours the old secret still signs after a rotation (0-168)")
    config.add_argument("--rotate-secret", action="store_true", help="replace the signing secret (printed once)")
    config.add_argument("--show-secret", action="store_true", help="print the signing secret unmasked")

_T = TypeVar("_T")


# -- entry point ----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    def command() -> int:
        args = build_parser().parse_args(argv)
        settings = load_settings()
        if args.command == "run" and settings.processes > 1:
            return run_processes(args, settings)
        return _run_async(dispatch(args, settings))

    return _exit_coded(command)


def _exit_coded(command: Callable[[], int]) -> int:
    """Run `command`; the project's errors become their exit code and a one-line reason."""
    try:
        return command()
    except Exception as exc:
        code = exit_code_for(exc)  # sidecar/errors.py: the one table of exit codes
        if code is None:
            raise
        return _fail(code, str(exc))


def _run_async(work: Awaitable[_T]) -> _T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)  # type: ignore[arg-type]
    return uvloop.run(work)  # type: ignore[arg-type]


def _fail(code: int, message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "doctor":
        return await cmd_doctor(args, settings)
    if args.command == "db":
        return await cmd_migrate(settings)
    if args.command == "serve":
        return await cmd_serve(settings)
    handlers: dict[str, Callable[[argparse.Namespace, Settings, Store], Awaitable[int]]] = {
        "run": cmd_run, "replay": cmd_replay, "stats": cmd_stats, "logs": cmd_logs,
        "queue": cmd_queue, "config": cmd_config, "pause": cmd_pause, "resume": cmd_resume,
        "recover": cmd_recover, "cancel": cmd_cancel, "test": cmd_test,
    }
    # A worker outlives database restarts, so it waits for the database; one-off commands do not.
    async with open_store(settings, wait=args.command == "run") as store:
        return await handlers[args.command](args, settings, store)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


# -- transports -----------------------------------------------------------------


@asynccontextmanager
async def open_store(settings: Settings, wait: bool = False) -> AsyncIterator[Store]:
    """The store the settings choose: DATABASE_URL, else Supabase, else the embedded cluster.

    With `wait`, an unreachable database is retried with backoff until it answers.
    """
    connect = functools.partial(_connect, settings)
    store = await (_connect_patiently(connect) if wait else connect())
    try:
        yield store
    finally:
        await store.close()


async def _connect_patiently(connect: Callable[[], Awaitable[Store]]) -> Store:
    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        _note(f"waiting for the database: {error}")

    async for attempt in db_retrying(is_transient, before_sleep=waiting):
        with attempt:
            return await connect()
    raise AssertionError("unreachable: db_retrying reraises")  # pragma: no cover


async def _connect(settings: Settings) -> Store:
    if settings.transport == "direct":
        if settings.direct_overrides_supabase:
            _note("DATABASE_URL and SUPABASE_URL are both set: using DATABASE_URL (direct connection)")
        return await DirectStore.connect(settings.database_url or "")
    if settings.transport == "supabase":
        return await _postgrest_store(settings)
    return await DirectStore.connect(await start_embedded(settings))


async def _postgrest_store(settings: Settings) -> Store:
    # Imported on use: the supabase client and its dependencies take a while to load,
    # and the direct and embedded paths never need them.
    from sidecar.store.postgrest import PostgrestStore

    return await PostgrestStore.connect(settings.supabase_url or "", settings.supabase_service_key or "")


async def start_embedded(settings: Settings) -> str:
    """Start (first time: create) the local cluster, apply migrations, print and return its DSN."""
    from sidecar.ops.embedded import LocalCluster  # on use, like migrate: `run` over DATABASE_URL needs neither

    cluster = LocalCluster(root=settings.data_dir)
    await asyncio.to_thread(cluster.ensure_started)
    dsn = cluster.dsn("postgres")
    await _bootstrap_and_migrate(dsn, bootstrap=True)
    _note(f"embedded PostgreSQL: {dsn} (data in {settings.data_dir}; set DATABASE_URL or SUPABASE_URL to use another)")
    return dsn


async def _bootstrap_and_migrate(dsn: str, bootstrap: bool) -> list[migrate.Migration]:
    from sidecar.ops import migrate

    conn = await asyncpg.connect(dsn)
    try:
        if bootstrap or not await conn.fetchval("select to_regclass('auth.users') is not null"):
            await migrate.bootstrap(conn)  # plain PostgreSQL: give it Supabase's roles and auth schema
        return await migrate.migrate(conn)
    finally:
        await conn.close()


# -- run --------------------------------------------------------------------------


async def cmd_run(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    configure_logging(settings.log_format, settings.log_level.upper())
    metrics, server = await _metrics_server(settings, store)
    # Without a port nobody can read the series: counting them would only cost CPU per attempt.
    events: WorkerEvents = FanOut(AttemptLog()) if metrics is None else FanOut(metrics, AttemptLog())
    try:
        async with _deliverer(settings) as deliverer:
            worker = Worker(store, deliverer, WorkerOptions.from_settings(settings), events)
            if metrics is not None:
                metrics.watch_unrecorded(worker.unrecorded_since)
            _stop_on_signals(worker)
            _note(f"worker {settings.worker_id} delivering over {store.transport}"
                  f"{' until nothing is due' if args.once else ''}")
            _tune_gc()
            summary = await worker.run(once=args.once)
    finally:
        if server is not None:
            await server.close()
    _note(f"stopped: {summary.attempts} attempts, {summary.released} released, {summary.unrecorded} unrecorded")
    return 0 if summary.unrecorded == 0 else 1


def run_processes(args: argparse.Namespace, settings: Settings) -> int:
    """WEBHOOK_PROCESSES > 1: fork that many `run` workers sharing the limits, and supervise them.

    What a worker needs is imported here, once, so that the forked workers share it
    (sidecar/ops/processes.py). The embedded cluster is started once, before the fork.
    """
    from sidecar.ops import processes

    try:
        import uvloop  # noqa: F401  (loaded once, for every worker)
    except ImportError:
        pass

    configure_logging(settings.log_format, settings.log_level.upper())
    dsn = _run_async(start_embedded(settings)) if settings.transport == "embedded" else None
    _note(f"running {settings.processes} worker processes; concurrency {settings.concurrency} in all")
    gc.collect()
    gc.freeze()  # what is loaded now stays shared by the workers instead of being copied on write

    def worker() -> int:
        return _exit_coded(lambda: _run_async(dispatch(args, load_settings())))

    return processes.run_workers(processes.child_environments(settings, os.environ, dsn), worker)


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the delivery path.

    With the defaults, collections took ~6 us per delivery in the throughput run: every
    full one walks the few hundred thousand objects start-up created, and young ones ran
    every 700 allocations. Those objects live as long as the process, so they are frozen
    out of collection; most per-delivery objects die by reference counting, so young
    collections can wait for 10,000 survivors (3 in a 20,000-delivery run).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _deliverer(settings: Settings) -> Deliverer:
    return Deliverer(
        max_response_bytes=settings.max_response_bytes,
        allow_private_targets=settings.allow_private_targets,
        limit=settings.concurrency,
    )


def _stop_on_signals(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)


async def _metrics_server(settings: Settings, store: Store) -> tuple[Metrics | None, Any]:
    if settings.metrics_port is None:
        return None, None
    from sidecar.ops.metrics import Metrics, serve

    metrics = Metrics()
    server = await serve(metrics, port=settings.metrics_port, queue_snapshot=lambda: queue_snapshot(store))
    _note(f"metrics on {server.url}/metrics, health on {server.url}/healthz")
    return metrics, server


async def queue_snapshot(store: Store) -> QueueSnapshot:
    from sidecar.ops.metrics import QueueSnapshot

    rows = await store.queue_summary()
    held = await store.held_summary()
    counts = {str(r["status"]): int(r["deliveries"]) for r in rows}
    pending = next((r for r in rows if r["status"] == "pending"), None)
    oldest_due = None
    if pending and pending["due_now"] and pending["oldest_scheduled_at"]:
        oldest_due = max(0.0, time.time() - unix_seconds(pending["oldest_scheduled_at"]))
    return QueueSnapshot(counts, oldest_due, held=sum(int(r["held"]) for r in held),
                         paused_rules=sum(1 for r in held if r["paused_at"] is not None))


def unix_seconds(value: Any) -> float:
    """A timestamp as the database renders it in JSON; past Python's dates ('infinity', year
    20000, BC) it is +-infinity, so a queue read never fails on a date the database allows."""
    if isinstance(value, datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=timezone.utc).timestamp()
    text = str(value).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return -math.inf if text.startswith("-") or text.endswith("BC") else math.inf
    return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=timezone.utc).timestamp()


# -- replay -------------------------------------------------------------------------


async def cmd_replay(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    queue_id = await with_retries(lambda: store.replay(args.log_id))
    _note(f"replay of {args.log_id} queued as delivery {queue_id}")
    delivery = await with_retries(lambda: store.delivery(queue_id))
    if delivery is not None and delivery.get("held"):
        _note(f"routing rule {delivery['routing_rule_id']} is paused or inactive: the replay is held "
              f"and goes out when it is resumed (`{PROG} resume {delivery['routing_rule_id']}`)")
        print(render.as_json({"delivery_id": str(queue_id), "held": True}) if args.json
              else f"held: delivery {queue_id}")
        return 0
    return await _deliver_and_print(args, settings, store, queue_id)


async def _deliver_and_print(args: argparse.Namespace, settings: Settings, store: Store, queue_id: UUID) -> int:
    configure_logging(settings.log_format, settings.log_level.upper())
    async with _deliverer(settings) as deliverer:
        row = await first_attempt(store, queue_id, deliverer, settings)
    _print_log_rows(args, [row], single=True)
    return 0 if row.get("status") == "success" else 1


async def first_attempt(store: Store, queue_id: UUID, deliverer: Deliverer, settings: Settings) -> Row:
    """The delivery's first log row: delivered here unless a running worker claims it first.

    Only this delivery is claimed, and its attempt is reported like `run`'s (log line).
    """
    options = WorkerOptions.from_settings(settings)
    deadline = time.monotonic() + REPLAY_WAIT_S
    while time.monotonic() < deadline:
        rows = await with_retries(lambda: store.logs(queue_id=queue_id, limit=1))
        if rows:
            return rows[0]
        if await _is_due(store, queue_id):
            events = FanOut(AttemptLog(summary_interval_s=0.0))
            await Worker(store, deliverer, options, events).run_batch([queue_id])
        else:
            await asyncio.sleep(0.2)  # another worker holds it, or its rule's rate puts it off
    raise StoreError(f"no attempt of delivery {queue_id} was recorded within {REPLAY_WAIT_S:g} s; "
                     f"see `{PROG} queue`")


async def _is_due(store: Store, queue_id: UUID) -> bool:
    delivery = await with_retries(lambda: store.delivery(queue_id))
    if delivery is None:
        raise StoreError(f"delivery {queue_id} disappeared from the queue")
    if delivery.get("held"):
        raise StoreError(f"delivery {queue_id} is held: its routing rule is paused or inactive, or its funnel "
                         f"is not active; it goes out when the hold ends")
    scheduled = delivery.get("scheduled_at")
    due = scheduled is None or datetime.fromisoformat(str(scheduled)) <= datetime.now(timezone.utc)
    return delivery["status"] == "pending" and due


# -- when a client's endpoint is down -------------------------------------------------------


async def cmd_pause(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    return await _set_paused(args, store, True)


async def cmd_resume(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    return await _set_paused(args, store, False)


async def _set_paused(args: argparse.Namespace, store: Store, paused: bool) -> int:
    row = await with_retries(lambda: store.update_config(args.rule_id, {"paused": paused}))
    shown = {k: v for k, v in row.items() if k not in SECRET_FIELDS}
    print(render.as_json(shown) if args.json else render.fields(shown, PAUSE_KEYS))
    return 0


async def cmd_recover(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    now = datetime.now(timezone.utc)
    since = parse_when(args.since, now, "--since")
    until = parse_when(args.until, now, "--until") if args.until else now
    if until < since:
        raise UsageError("--until must not be before --since")
    count = await with_retries(lambda: store.recover(args.rule_id, since, until))
    print(render.as_json({"requeued": count}) if args.json
          else f"requeued {count} failed deliveries created between {since.isoformat()} and {until.isoformat()}")
    return 0


def parse_when(text: str, now: datetime, flag: str) -> datetime:
    """A timestamp (ISO 8601; without an offset, UTC) or a duration back from `now` like 2h, 3d, 30m."""
    match = DURATION.match(text.strip())
    if match:
        return now - timedelta(**{DURATION_UNITS[match.group(2)]: float(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r}: use a timestamp like 2026-12-01T18:00:00Z "
                         "or a duration back from now like 30m, 2h, 3d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def cmd_cancel(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    count = await with_retries(lambda: store.cancel(args.rule_id))
    print(render.as_json({"cancelled": count}) if args.json else f"cancelled {count} pending deliveries")
    return 0


async def cmd_test(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    queue_id = await with_retries(lambda: store.send_test(args.rule_id))
    _note(f"test delivery {queue_id} queued")
    return await _deliver_and_print(args, settings, store, queue_id)


# -- reads -------------------------------------------------------------------------------


async def cmd_stats(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    if args.days < 1:
        raise UsageError("--days must be at least 1")
    row = await with_retries(lambda: store.stats(args.rule_id, args.days))
    print(render.as_json(row) if args.json else render.fields(row, STATS_KEYS))
    return 0


async def cmd_logs(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    if not 1 <= args.limit <= 10000:
        raise UsageError("--limit must be between 1 and 10000")
    rows = await with_retries(lambda: store.logs(args.rule, args.status, None, args.limit))
    _print_log_rows(args, rows)
    return 0


def _print_log_rows(args: argparse.Namespace, rows: list[Row], single: bool = False) -> None:
    if args.json:
        print(render.as_json(rows[0] if single else rows))
        return
    shown = [_log_view(row) for row in rows]
    print(render.fields(shown[0], [k for k, _ in LOG_COLUMNS] + ["is_retry", "parent_log_id", "queue_id"])
          if single else render.table(shown, LOG_COLUMNS))


def _log_view(row: Row) -> Row:
    error = row.get("error_message") or ""
    if row.get("error_type"):
        error = f"{row['error_type']}: {error}"
    return {**row, "attempt": f"{row.get('attempt_number')}/{row.get('max_attempts')}",
            "created_at": render.moment(row.get("created_at"), millis=True), "error": error}


async def cmd_queue(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    rows = await with_retries(store.queue_summary)
    held = await with_retries(store.held_summary)
    if args.json:
        print(render.as_json({"statuses": rows, "held_by_rule": held}))
        return 0
    print(render.table(
        [{**r, "oldest_scheduled_at": render.moment(r["oldest_scheduled_at"]),
          "next_scheduled_at": render.moment(r["next_scheduled_at"])} for r in rows], QUEUE_COLUMNS))
    if held:
        print(f"\nheld deliveries (pending, not sent until the hold ends):\n{render.table(held, HELD_COLUMNS)}")
    return 0


# -- config ------------------------------------------------------------------------------


async def cmd_config(args: argparse.Namespace, settings: Settings, store: Store) -> int:
    current = await with_retries(lambda: store.get_config(args.rule_id))
    patch = config_patch(args, current.get("custom_headers") or {})
    if patch:
        await with_retries(lambda: store.update_config(args.rule_id, patch))
        current = await with_retries(lambda: store.get_config(args.rule_id))
    shown = current if args.show_secret or args.rotate_secret else {**current, "signing_secret": _masked(current)}
    print(render.as_json(shown) if args.json else render.fields(shown, CONFIG_KEYS))
    return 0


def config_patch(args: argparse.Namespace, headers: dict[str, str]) -> dict[str, Any]:
    """The update_webhook_config patch the flags ask for ({} when only showing)."""
    patch: dict[str, Any] = {}
    simple = {"timeout_ms": args.timeout_ms, "max_retries": args.max_retries,
              "retry_delay_ms": args.retry_delay_ms, "retry_backoff_multiplier": args.multiplier,
              "retry_enabled": args.retry_enabled}
    patch.update({key: value for key, value in simple.items() if value is not None})
    # 0 turns these off (null in the database); any other value is checked there.
    for key in ("auto_pause_after_failures", "max_requests_per_second"):
        value = getattr(args, key)
        if value is not None:
            patch[key] = None if value == 0 else value
    if args.secret_overlap_hours is not None:
        patch["secret_overlap_hours"] = args.secret_overlap_hours
    if args.header or args.remove_header:
        patch["custom_headers"] = edited_headers(headers, args.header, args.remove_header)
    if args.rotate_secret:
        patch["signing_secret"] = None  # the database generates a fresh one
    return patch


def edited_headers(headers: dict[str, str], add: Sequence[str], remove: Sequence[str]) -> dict[str, str]:
    """Header names compare case-insensitively, as HTTP does; an added header replaces its namesake."""
    result = dict(headers)
    for name in remove:
        result = {k: v for k, v in result.items() if k.lower() != name.strip().lower()}
    for spec in add:
        name, sep, value = spec.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {spec!r}: use 'Name: value'")
        result = {k: v for k, v in result.items() if k.lower() != name.strip().lower()}
        result[name.strip()] = value.strip()
    return result


def _masked(config: Row) -> str | None:
    secret = config.get("signing_secret")
    return None if secret is None else f"{str(secret)[:10]}… (--show-secret prints it)"


# -- serve ----------------------------------------------------------------------------------


async def cmd_serve(settings: Settings) -> int:
    # aiohttp's server side only loads for this command.
    from sidecar.api.auth import Authenticator
    from sidecar.api.serve import serve

    configure_logging(settings.log_format, settings.log_level.upper())
    if settings.transport == "supabase" and not settings.supabase_anon_key:
        raise UsageError("serve over Supabase needs SUPABASE_ANON_KEY (the project's anon key)")
    if settings.transport == "direct" and settings.direct_overrides_supabase:
        _note("DATABASE_URL and SUPABASE_URL are both set: using DATABASE_URL (direct connection)")
    dsn = {"direct": settings.database_url, "supabase": None}.get(settings.transport)
    if settings.transport == "embedded":
        dsn = await start_embedded(settings)
    store = await _open_api_store(settings, dsn)
    # On Supabase PostgREST checks the token; directly, the claims are set from it here.
    authenticator = Authenticator(settings.supabase_jwt_secret, settings.supabase_jwks_url,
                                  verify=store.transport != "supabase")
    return await serve(store, authenticator, _public_config(settings), settings.http_host, settings.http_port, _note)


async def _open_api_store(settings: Settings, dsn: str | None) -> ApiStore:
    """Direct or embedded: a pool on `dsn`; Supabase (no dsn): PostgREST with the anon key."""
    if dsn is not None:
        from sidecar.api.direct import DirectApiStore

        return await DirectApiStore.connect(dsn)
    from sidecar.api.postgrest import PostgrestApiStore

    return PostgrestApiStore(settings.supabase_url or "", settings.supabase_anon_key or "")


def _public_config(settings: Settings) -> dict[str, object]:
    """What the dashboard may know: enough to sign in with Supabase Auth, nothing secret."""
    enabled = bool(settings.supabase_url and settings.supabase_anon_key)
    return {"supabase_url": settings.supabase_url if enabled else None,
            "supabase_anon_key": settings.supabase_anon_key if enabled else None}


# -- db migrate, doctor ----------------------------------------------------------------------


async def cmd_migrate(settings: Settings) -> int:
    if settings.transport == "supabase":
        raise UsageError("db migrate needs a SQL connection: set DATABASE_URL, or run `supabase db push`")
    if settings.transport == "embedded":
        await start_embedded(settings)
        _note("embedded database is up to date")
        return 0
    applied = await _bootstrap_and_migrate(settings.database_url or "", bootstrap=False)
    for m in applied:
        print(f"applied {m.version}_{m.name}")
    print(f"{len(applied)} migration(s) applied; the database is up to date")
    return 0


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.ops import doctor

    ping, dsn, store = None, None, None
    if settings.transport == "supabase":
        store = await _postgrest_store(settings)
        ping = store.ping
    elif settings.transport == "embedded":
        from sidecar.ops.embedded import LocalCluster

        cluster = LocalCluster(root=settings.data_dir)
        dsn = cluster.dsn("postgres") if cluster.is_running() else None
    try:
        checks = await doctor.run_checks(load_settings, ping=ping, dsn=dsn)
    finally:
        if store is not None:
            await store.close()
    print(doctor.checks_json(checks) if args.json else doctor.format_checks(checks))
    return doctor.exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
