"""Prometheus series and /healthz: a WorkerEvents listener plus a tiny aiohttp server.

Each `Metrics` owns its own CollectorRegistry, so several can live in one process
(tests, or two workers) without clashing in prometheus-client's global registry.
Queue gauges are filled by a periodic read of the database, not by events: the queue
is shared by every worker, so only the database knows its depth.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from sidecar.domain import Job, Outcome
from sidecar.errors import SidecarError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_UNREACHABLE_LIMIT_S = 60.0
DEFAULT_REFRESH_INTERVAL_S = 15.0

# A receiver answering in 5 ms and one timing out at the 30 s config cap both land in a bucket.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Our own SQL calls: a healthy claim or record is milliseconds, a sick one seconds.
DB_CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
QUEUE_STATUSES = ("pending", "processing", "completed", "failed")

log = logging.getLogger("sidecar.metrics")


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """One read of the queue: deliveries per status, and how long the oldest due one has waited."""

    counts: Mapping[str, int]
    oldest_due_age_s: float | None
    held: int = 0  # pending deliveries held by a paused or inactive rule or a funnel not active
    paused_rules: int = 0


QueueSnapshotFn = Callable[[], Awaitable[QueueSnapshot]]


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    reason: str


class Metrics:
    """WorkerEvents listener that moves Prometheus series and tracks database health."""

    def __init__(
        self,
        unreachable_limit_s: float = DEFAULT_UNREACHABLE_LIMIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.unreachable_limit_s = unreachable_limit_s
        self._clock = clock
        self._unreachable_since: float | None = None
        self._unrecorded_since: Callable[[], float | None] = lambda: None
        self._define_attempt_series()
        self._define_database_series()
        self._define_queue_series()

    # -- series -------------------------------------------------------------

    def _define_attempt_series(self) -> None:
        r = self.registry
        self.attempts = Counter(
            "webhook_attempts", "HTTP attempts by outcome, error type and resulting log status",
            ["outcome", "error_type", "status"], registry=r,
        )
        self.deliveries = Counter(
            "webhook_deliveries_finished", "Deliveries whose final attempt this worker made, by result",
            ["result"], registry=r,
        )
        self.attempt_duration = Histogram(
            "webhook_attempt_duration_seconds", "Duration of one HTTP attempt",
            ["outcome"], buckets=DURATION_BUCKETS, registry=r,
        )
        self.in_flight = Gauge("webhook_attempts_in_flight", "HTTP attempts under way now", registry=r)

    def _define_database_series(self) -> None:
        r = self.registry
        self.claim_duration = Histogram(
            "webhook_claim_duration_seconds", "Latency of claim_webhook_jobs calls",
            buckets=DB_CALL_BUCKETS, registry=r,
        )
        self.claim_batch = Histogram(
            "webhook_claim_batch_size", "Deliveries returned per claim call", buckets=BATCH_BUCKETS, registry=r,
        )
        self.record_duration = Histogram(
            "webhook_record_duration_seconds", "Latency of record_webhook_attempts calls",
            buckets=DB_CALL_BUCKETS, registry=r,
        )
        self.record_batch = Histogram(
            "webhook_record_batch_size", "Attempt results written per record call", buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.results_dropped = Counter(
            "webhook_results_dropped", "Attempt results given up on, by reason (delivery_gone, refused)",
            ["reason"], registry=r,
        )
        self.database_up = Gauge(
            "webhook_database_up", "1 when the last database call succeeded, 0 when it failed", registry=r,
        )

    def _define_queue_series(self) -> None:
        r = self.registry
        self.queue_depth = Gauge("webhook_queue_depth", "Deliveries in the queue by status", ["status"], registry=r)
        self.oldest_due_age = Gauge(
            "webhook_queue_oldest_due_age_seconds",
            "How long the oldest due pending delivery has waited (0 when none is due)", registry=r,
        )
        # Totals, not per rule: a label per rule would grow without bound with the tenants.
        self.held_deliveries = Gauge(
            "webhook_held_deliveries",
            "Pending deliveries held (rule paused or inactive, funnel not active)", registry=r,
        )
        self.paused_rules = Gauge("webhook_paused_rules", "Routing rules paused now (manually or auto)", registry=r)
        self.queue_refresh_errors = Counter(
            "webhook_queue_refresh_errors", "Failed reads of the queue depth", registry=r,
        )
        self.queue_refreshed_at = Gauge(
            "webhook_queue_last_refresh_timestamp_seconds", "Unix time of the last successful queue read",
            registry=r,
        )

    # -- WorkerEvents ---------------------------------------------------------

    def attempt_started(self, job: Job) -> None:
        self.in_flight.inc()

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        self.in_flight.dec()
        self.attempt_duration.labels("success" if outcome.success else "failure").observe(outcome.duration_ms / 1000)

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        result = "success" if outcome.success else "failure"
        self.attempts.labels(result, outcome.error_type or "none", status).inc()
        if status != "retrying":
            self.deliveries.labels("completed" if status == "success" else "failed").inc()

    def attempt_abandoned(self, job: Job) -> None:
        self.in_flight.dec()

    def claimed(self, count: int, seconds: float) -> None:
        self.claim_duration.observe(seconds)
        self.claim_batch.observe(count)

    def recorded(self, count: int, seconds: float) -> None:
        self.record_duration.observe(seconds)
        self.record_batch.observe(count)

    def result_dropped(self, job: Job, reason: str) -> None:
        self.results_dropped.labels(reason).inc()

    def database_reachable(self, ok: bool) -> None:
        self.database_up.set(1 if ok else 0)
        if ok:
            self._unreachable_since = None
        elif self._unreachable_since is None:
            # Only the first failure starts the clock; repeats must not reset it.
            self._unreachable_since = self._clock()

    # -- queue and health -----------------------------------------------------

    def observe_queue(self, snapshot: QueueSnapshot) -> None:
        # Every known status is set, so a status that drained to zero does not keep its old value.
        for status in QUEUE_STATUSES:
            self.queue_depth.labels(status).set(snapshot.counts.get(status, 0))
        for status, count in snapshot.counts.items():
            if status not in QUEUE_STATUSES:
                self.queue_depth.labels(status).set(count)
        self.oldest_due_age.set(snapshot.oldest_due_age_s or 0.0)
        self.held_deliveries.set(snapshot.held)
        self.paused_rules.set(snapshot.paused_rules)
        self.queue_refreshed_at.set(time.time())

    async def refresh_queue(self, snapshot: QueueSnapshotFn) -> bool:
        """Read the queue once; a failed read is counted and logged, never raised."""
        try:
            result = await snapshot()
        except Exception as exc:  # noqa: BLE001 - a metrics read must never stop the worker
            self.queue_refresh_errors.inc()
            log.warning("queue depth read failed: %s: %s", type(exc).__name__, exc)
            return False
        self.observe_queue(result)
        return True

    def watch_unrecorded(self, since: Callable[[], float | None]) -> None:
        """Read the arrival time (on `clock`) of the oldest result not yet recorded, at each health check."""
        self._unrecorded_since = since

    def health(self) -> Health:
        """Unhealthy once the database has been unreachable, or a result has waited unrecorded,
        for longer than the limit."""
        limit = self.unreachable_limit_s
        now = self._clock()
        if self._unreachable_since is not None and now - self._unreachable_since > limit:
            return Health(False, f"database unreachable for {now - self._unreachable_since:.0f} s (limit {limit:g} s)")
        waiting_since = self._unrecorded_since()
        if waiting_since is not None and now - waiting_since > limit:
            return Health(False, f"results unrecorded for {now - waiting_since:.0f} s (limit {limit:g} s)")
        return Health(True, "ok")


# -- HTTP ----------------------------------------------------------------------


class MetricsServerError(SidecarError, OSError):
    """The metrics endpoint could not listen; the message says which address and what to do.

    An OSError, so callers that already report socket failures in one line report this too.
    """


@dataclass
class Server:
    """A running /metrics + /healthz endpoint; `await close()` stops it and its queue refresh."""

    runner: web.AppRunner
    host: str
    port: int
    refresher: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        if self.refresher is not None:
            self.refresher.cancel()
            await asyncio.gather(self.refresher, return_exceptions=True)
        await self.runner.cleanup()


def build_app(metrics: Metrics) -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", _metrics_handler(metrics))
    app.router.add_get("/healthz", _health_handler(metrics))
    return app


def _metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        # Honour Accept so a Prometheus asking for OpenMetrics gets it.
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})

    return handle


def _health_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        health = metrics.health()
        return web.Response(status=200 if health.ok else 503, text=health.reason + "\n")

    return handle


async def serve(
    metrics: Metrics,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    queue_snapshot: QueueSnapshotFn | None = None,
    refresh_interval_s: float = DEFAULT_REFRESH_INTERVAL_S,
) -> Server:
    """Listen on host:port (0 picks a free port; see `Server.port`) and refresh queue gauges."""
    # No access log: a scrape every few seconds would drown the attempt lines.
    runner = web.AppRunner(build_app(metrics), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise MetricsServerError(_listen_error(host, port, exc)) from exc
    bound_port = int(runner.addresses[0][1])
    refresher = None
    if queue_snapshot is not None:
        refresher = asyncio.create_task(_refresh_forever(metrics, queue_snapshot, refresh_interval_s))
    return Server(runner, host, bound_port, refresher)


def _listen_error(host: str, port: int, exc: OSError) -> str:
    where = f"WEBHOOK_METRICS_PORT={port}: cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use; choose another port or stop the process holding it"
    return f"{where}: {exc.strerror or exc}"


async def _refresh_forever(metrics: Metrics, snapshot: QueueSnapshotFn, interval_s: float) -> None:
    while True:
        await metrics.refresh_queue(snapshot)
        await asyncio.sleep(interval_s)
