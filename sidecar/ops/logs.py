"""Log lines for people (text) or log shippers (JSON lines), and the attempt lines.

Structured values travel on the record as `extra={"fields": {...}}`; the text form
renders them as key=value pairs after the message, the JSON form as top-level keys.
Only the target's host is logged, never its path or query, which often carry tokens.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import IO, Any
from urllib.parse import urlsplit

from sidecar.domain import Job, Outcome
from sidecar.keycache import short_key_cache

ATTEMPT_LOGGER = "sidecar.attempts"
SUMMARY_INTERVAL_S = 60.0
_NEEDS_QUOTES = re.compile(r'[ "=\\]')
# Values made only of these print as they are; one C-level match decides for most values.
_PLAIN = re.compile(r"[A-Za-z0-9_.,:;/@%+*#~!?&'()\[\]{}<>^|$-]+")
_HANDLER_MARK = "_sidecar_handler"


def configure_logging(fmt: str, level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record to `stream` (default stderr) as text or JSON lines."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r} is not allowed: use text or json")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    # Calling twice (tests, a CLI re-entering) replaces our handler instead of doubling every line.
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Our formats print none of these: not gathering them saves a stack walk and lookups
    # on every record, one per attempt (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _timestamp(record: logging.LogRecord) -> str:
    return f"{_second(int(record.created))}.{int(record.msecs):03d}Z"


@lru_cache(maxsize=4)
def _second(unix_second: int) -> str:
    # One attempt line per delivery: formatting the date once per second, not per line.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix_second))


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _logfmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if type(value) is int:
        return str(value)
    text = value if type(value) is str else str(value)
    if _PLAIN.fullmatch(text):
        return text
    if text and text.isprintable() and _NEEDS_QUOTES.search(text) is None:
        return text
    return json.dumps(text)


class TextFormatter(logging.Formatter):
    """`<time> <LEVEL> <logger> <message> key=value ...`, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), f"{record.levelname:<7}", record.name, record.getMessage()]
        parts += [f"{key}={_logfmt_value(value)}" for key, value in _fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            # The traceback stays on following lines: people read these, shippers use JSON.
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


@short_key_cache(maxsize=1024)
def _host(url: str) -> str | None:
    # A rule's URL is whatever its owner typed; an unparsable one must not cost the line.
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def attempt_fields(job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> dict[str, Any]:
    """The values of one attempt line, in the order they are printed."""
    return {
        "delivery": str(job.queue_id),
        "webhook_id": str(job.webhook_id),
        "rule": str(job.routing_rule_id),
        "attempt": f"{job.attempt_number}/{job.max_attempts}",
        "status": status,
        "http_status": outcome.status,
        "error_type": outcome.error_type,
        "duration_ms": outcome.duration_ms,
        "host": _host(job.webhook_url),
        "retry_in_ms": retry_in_ms,
        "error": outcome.error_message,
    }


class AttemptLog:
    """WorkerEvents listener: attempt lines, a periodic summary, and database up/down transitions.

    A failed or retrying attempt is a warning line. A successful one is a debug line:
    at thousands per second, a line each would cost a tenth of the sidecar's CPU and
    outrun journald's default rate limit (10,000 lines per 30 s), which drops lines.
    Instead, every `summary_interval_s` with attempts, one info line counts them.
    """

    def __init__(self, logger: logging.Logger | None = None,
                 summary_interval_s: float = SUMMARY_INTERVAL_S) -> None:
        self._log = logger or logging.getLogger(ATTEMPT_LOGGER)
        self._database_ok: bool | None = None
        self._summary_interval_s = summary_interval_s
        self._window_start = time.monotonic()
        self._counts = {"success": 0, "retrying": 0, "failed": 0}

    def attempt_started(self, job: Job) -> None:
        return None

    def attempt_finished(self, job: Job, outcome: Outcome) -> None:
        return None  # the line waits for the database's verdict: attempt_recorded

    def attempt_recorded(self, job: Job, outcome: Outcome, status: str, retry_in_ms: int | None) -> None:
        self._counts[status] += 1
        level = logging.DEBUG if status == "success" else logging.WARNING
        if self._log.isEnabledFor(level):
            fields = attempt_fields(job, outcome, status, retry_in_ms)
            self._log.log(level, "attempt %s", status, extra={"fields": fields})
        now = time.monotonic()
        if now - self._window_start >= self._summary_interval_s:
            self._summarize(now)

    def _summarize(self, now: float) -> None:
        # Written at the first attempt after the interval: `seconds` is the window it covers.
        counts, self._counts = self._counts, dict.fromkeys(self._counts, 0)
        fields = {"attempts": sum(counts.values()), **counts, "seconds": round(now - self._window_start)}
        self._log.info("attempt summary", extra={"fields": fields})
        self._window_start = now

    def attempt_abandoned(self, job: Job) -> None:
        self._log.warning("attempt abandoned", extra={"fields": {
            "delivery": str(job.queue_id), "rule": str(job.routing_rule_id),
            "attempt": f"{job.attempt_number}/{job.max_attempts}", "status": "released"}})

    def claimed(self, count: int, seconds: float) -> None:
        if count:
            self._log.debug("claimed", extra={"fields": {"count": count, "ms": round(seconds * 1000, 1)}})

    def recorded(self, count: int, seconds: float) -> None:
        self._log.debug("recorded", extra={"fields": {"count": count, "ms": round(seconds * 1000, 1)}})

    def result_dropped(self, job: Job, reason: str) -> None:
        return None  # the recorder's own line says why (sidecar/worker/recorder.py)

    def database_reachable(self, ok: bool) -> None:
        # Only transitions are logged: a database down for an hour is one line, not one per poll.
        if ok == self._database_ok:
            return
        if ok and self._database_ok is not None:
            self._log.info("database reachable again")
        elif not ok:
            self._log.error("database unreachable; deliveries wait until it is back")
        self._database_ok = ok
