# Engine: our own HTTP/1.1 client (sidecar/delivery/http1.py) over asyncio Protocols; "HTTP engine" in bench/RESULTS.md.
"""One HTTP attempt of a webhook delivery, returned as an `Outcome` value.

Stages: prepare (body, headers, signature, egress check of literal IPs) -> call
(one deadline for connect, send, headers and body) -> classify. Remote faults
become values; only cancellation and programming errors propagate.

Exceptions, and how they are classified:

    CancelledError from our deadline (_Deadline)  -> timeout
    EgressRefused (literal IP or CheckedResolver)  -> blocked
    http1.HTTPFault
      ├── DNSFailed        -> network "DNS lookup failed: …"
      ├── ConnectFailed    -> network "connection failed: …"
      ├── TLSFailed        -> network "TLS handshake failed: …"
      ├── NoResponse       -> network "connection closed without a response"
      ├── ResponseCut      -> network "connection lost while reading the response body (or head): …"
      └── InvalidResponse  -> invalid_response "not a valid HTTP response: …"
            └── InvalidBody  -> invalid_response "malformed response body: …"
    OSError (anything the pool did not wrap)      -> network "connection error: …"
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import http
import math
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from yarl import URL

from sidecar.delivery import http1
from sidecar.delivery.egress import CheckedResolver, EgressRefused, check_literal
from sidecar.delivery.payload import compact_jsonb_text
from sidecar.delivery.signing import SigningSecretError, sign
from sidecar.domain import ErrorType, Job, Outcome
from sidecar.keycache import short_key_cache
from sidecar.masking import MASK, mask_headers
from sidecar.masking import is_secret_name as is_secret_header
from sidecar.retry import http_date, parse_retry_after

USER_AGENT = "BPC-Funnels/2.0"
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Headers the sender owns; a custom header with one of these names never replaces them.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection",
     "user-agent", "x-lead-id", "x-funnel-webhook"}
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE_CHAR = re.compile("[\r\n\0]")


def logged_request_headers(url: str, headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers as logged: secrets masked, plus the Basic auth sent for URL credentials."""
    logged = mask_headers(headers)
    try:
        has_credentials = _has_credentials(target_url(url))
    except ValueError:
        has_credentials = False
    if has_credentials:
        logged["Authorization"] = MASK
    return logged


def _has_credentials(url: URL) -> bool:
    return bool(url.raw_user or url.raw_password)


@short_key_cache(maxsize=4096)
def url_authorization(url: str) -> str | None:
    """`Basic …` for the URL's user:password (latin-1, RFC 7617), or None when it has none."""
    parsed = target_url(url)
    if not _has_credentials(parsed):
        return None
    user, password = parsed.user or "", parsed.password or ""
    if ":" in user:
        raise ValueError('a ":" is not allowed in the user name of Basic auth (RFC 7617, section 2)')
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("latin-1")).decode("ascii")


# Logged response header names: raw name -> (lower-cased name, whether it is a secret).
_RESPONSE_NAMES: dict[bytes, tuple[str, bool]] = {}
_RESPONSE_NAMES_MAX = 4096


def _response_name(name: bytes) -> tuple[str, bool]:
    key = name.decode("latin-1").lower()
    known = (key, is_secret_header(key))
    if len(_RESPONSE_NAMES) < _RESPONSE_NAMES_MAX:
        _RESPONSE_NAMES[name] = known
    return known


def response_headers_dict(fields: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The logged response headers of the parser's raw fields: lower-cased names, repeated
    headers joined with ", " so none is lost, secrets masked; each distinct name is decoded
    and judged once."""
    merged: dict[str, str] = {}
    names = _RESPONSE_NAMES
    for name, raw in fields:
        key, secret = names.get(name) or _response_name(name)
        if secret:
            merged[key] = MASK
        elif key in merged:
            merged[key] = f"{merged[key]}, {raw.decode('latin-1')}"
        else:
            merged[key] = raw.decode("latin-1")
    return merged


def build_headers(job: Job, body: bytes, timestamp: int, user_agent: str = USER_AGENT) -> dict[str, str]:
    """Every header of the request, signature included, in DESIGN.md's order."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "X-Lead-ID": str(job.lead_id),
        "X-Funnel-Webhook": "true",
    }
    headers.update(_custom_headers(job.custom_headers))
    msg_id = str(job.webhook_id)
    headers["webhook-id"] = msg_id
    headers["webhook-timestamp"] = str(timestamp)
    headers["webhook-signature"] = sign(
        job.signing_secret, msg_id, timestamp, body, job.previous_signing_secret)
    return headers


def _custom_headers(custom: Mapping[str, object]) -> dict[str, str]:
    # The database refuses these names when a config is saved; this keeps old rows harmless.
    if not custom:
        return {}
    return {
        str(name): str(value)
        for name, value in custom.items()
        if str(name).lower() not in RESERVED_HEADERS and not str(name).lower().startswith("webhook-")
    }


def header_problem(headers: Mapping[str, str]) -> str | None:
    """Why these headers cannot be sent (bad name, line break in a value), or None."""
    for name, value in headers.items():
        if not _TOKEN.match(name):
            return f"header name {name!r} is not a valid HTTP token"
        if _BAD_VALUE_CHAR.search(value):
            return f"header {name} has a line break or NUL in its value"
    return None


@short_key_cache(maxsize=4096)
def target_url(url: str) -> URL:
    """The parsed URL, once per distinct URL: every attempt to a rule calls the same one."""
    return URL(url)


@short_key_cache(maxsize=4096)
def url_problem(url: str) -> str | None:
    """Why `url` cannot be called (unparsable, not http(s), no host, a bad port), or None."""
    try:
        parsed = target_url(url)
        port = parsed.port
        _ = parsed.raw_path_qs, parsed.host_port_subcomponent  # what the request is built from
        url_authorization(url)
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parsed.scheme not in ("http", "https"):
        return "invalid URL: only http:// and https:// targets can be called"
    if not parsed.raw_host:
        return "invalid URL: it names no host"
    if not port:
        return "invalid URL: port 0 cannot be called"
    return None


@dataclass(frozen=True, slots=True)
class _Target:
    """What an attempt needs to know of its URL, worked out once per distinct URL."""

    problem: str | None  # url_problem's answer
    url: URL | None  # None when the URL does not parse
    authorization: str | None  # Basic auth for the URL's credentials
    credentials: bool  # the URL carries a user or password


@short_key_cache(maxsize=4096)
def _target(url: str) -> _Target:
    problem = url_problem(url)
    try:
        parsed = target_url(url)
    except ValueError:
        return _Target(problem, None, None, False)
    return _Target(problem, parsed, None if problem else url_authorization(url), _has_credentials(parsed))


# The headers build_headers sets itself that are secrets by masking's rule (the signature).
_OWN_SECRET_HEADERS = tuple(
    name for name in ("Content-Type", "User-Agent", "X-Lead-ID", "X-Funnel-Webhook", "webhook-id",
                      "webhook-timestamp", "webhook-signature") if is_secret_header(name))


def _logged(headers: dict[str, str], custom: Mapping[str, str], credentials: bool) -> dict[str, str]:
    """logged_request_headers for headers built by build_headers: only the custom names need judging."""
    logged = dict(headers)
    for name in _OWN_SECRET_HEADERS:
        logged[name] = MASK
    for name in custom:
        if is_secret_header(name):
            logged[name] = MASK
    if credentials:
        logged["Authorization"] = MASK
    return logged


def one_line(text: str, limit: int = 500) -> str:
    """Whitespace collapsed and length capped: peers' garbage can end up in error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_message(status: int, reason: str | None) -> str:
    """"HTTP 500: Internal Server Error", with the standard phrase when the server sent none."""
    phrase = reason or _standard_phrase(status)
    return f"HTTP {status}: {phrase}" if phrase else f"HTTP {status}"


def _standard_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


_PICKED = frozenset({b"retry-after", b"date"})  # read from the response whether or not they fit the cap


@dataclass(slots=True)
class _Exchange:
    """The request as logged and the response as received so far, kept when the attempt fails part-way."""

    request_headers: dict[str, str]
    started: float
    response: http1.Response | None = None

    def outcome(self, error_type: ErrorType | None = None, message: str | None = None) -> Outcome:
        ended = time.monotonic()
        outcome = Outcome(
            request_headers=self.request_headers,
            duration_ms=int((ended - self.started) * 1000),
            ended_at=ended,
            error_type=error_type,
            error_message=message,
        )
        response = self.response
        if response is not None and response.status is not None:
            outcome.status = response.status
            outcome.response_headers = response_headers_dict(response.headers)
            outcome.response_body = response.body.decode("utf-8", "replace")
            outcome.retry_after_s = _retry_after(response)
        return outcome

    def finished(self) -> Outcome:
        response = self.response
        assert response is not None and response.status is not None
        if 200 <= response.status < 300:
            return self.outcome()
        return self.outcome("http_error", status_message(response.status, response.reason))


def _retry_after(response: http1.Response) -> float | None:
    if response.status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(_field(response, b"retry-after"), now=response_date(_field(response, b"date")))


def _field(response: http1.Response, name: bytes) -> str | None:
    value = response.fields.get(name)
    return None if value is None else value.decode("latin-1")


class _Deadline:
    """Cancels the attempt's task when its time is up.

    asyncio.timeout's job with no context manager. The timer can only fire while the
    task waits inside the attempt, so the cancellation always lands in the attempt's
    own `try`.
    """

    __slots__ = ("_task", "expired", "ended")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self._task = task
        self.expired = False
        self.ended = False  # fired, or the attempt is over

    def __call__(self) -> None:
        self.expired = True
        self._task.cancel()


class _Deadlines:
    """The deadlines of a Deliverer's attempts on one loop timer, set for the earliest.

    A loop timer per attempt (call_later, then cancel) costs ~1.5-2.5 us on uvloop, and
    its handle is closed by a later loop callback; a heap push costs a fraction. Ended
    deadlines stay in the heap until they reach its top or the heap is compacted (at
    more than twice the live ones plus COMPACT_SLACK), so it stays small.
    """

    COMPACT_SLACK = 64
    EARLY_S = 0.001  # loop timers round to milliseconds: what is due within one fires now

    __slots__ = ("_loop", "_heap", "_live", "_seq", "_timer", "_armed_for")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._live = 0
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = math.inf

    def add(self, loop: asyncio.AbstractEventLoop, delay_s: float, deadline: _Deadline) -> None:
        if loop is not self._loop:  # a Deliverer used on a new loop: nothing of the old one applies
            self.close()
            self._loop, self._heap, self._live = loop, [], 0
        when = loop.time() + delay_s
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, deadline))
        self._live += 1
        if when < self._armed_for:
            self._arm(when)
        elif len(self._heap) > 2 * self._live + self.COMPACT_SLACK:
            self._heap = [entry for entry in self._heap if not entry[2].ended]
            heapq.heapify(self._heap)

    def end(self, deadline: _Deadline) -> None:
        if not deadline.ended:
            deadline.ended = True
            self._live -= 1

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_for = None, math.inf

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_for = self._loop.call_at(when, self._fire), when

    def _fire(self) -> None:
        assert self._loop is not None
        self._timer, self._armed_for = None, math.inf
        heap, due = self._heap, self._loop.time() + self.EARLY_S
        while heap and (heap[0][0] <= due or heap[0][2].ended):
            _, _, deadline = heapq.heappop(heap)
            if not deadline.ended:
                self.end(deadline)
                deadline()
        if heap:
            self._arm(heap[0][0])


class Deliverer:
    """Makes attempts over one shared connection pool; use as `async with Deliverer(...) as d`.

    `tls_context` replaces the system's default trust store (tests use a throwaway CA).
    """

    def __init__(
        self,
        *,
        max_response_bytes: int = 65536,
        allow_private_targets: bool = False,
        user_agent: str = USER_AGENT,
        limit: int = 100,
        limit_per_host: int = 0,
        keepalive_timeout: float = 15.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_response_bytes = max_response_bytes
        self._allow_private = allow_private_targets
        self._user_agent = user_agent
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive_timeout = keepalive_timeout
        self._tls_context = tls_context
        self._pool: http1.Pool | None = None
        self._deadlines = _Deadlines()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of `async with`

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._pool = http1.Pool(
            CheckedResolver(allow_private=self._allow_private),
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            keepalive_s=self._keepalive_timeout,
            tls_context=self._tls_context,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._deadlines.close()
        self._loop = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _prepare(self, job: Job) -> tuple[bytes, dict[str, str], _Exchange] | Outcome:
        """Body, headers and the exchange to fill, or the final Outcome of a local fault.

        A fault of our own data (secret, header, URL, refused address) cannot change on a
        retry, so it comes back as `blocked`, the error type that is never retried.
        """
        started = time.monotonic()
        body = compact_jsonb_text(job.payload)
        try:
            headers = build_headers(job, body, int(job.now()), self._user_agent)
        except SigningSecretError as exc:
            return _Exchange({}, started).outcome(
                "blocked", f"request not sent: the rule's signing_secret is unusable ({exc}); "
                           "set a new one with update_webhook_config")
        target = _target(job.webhook_url)
        custom = _custom_headers(job.custom_headers) if job.custom_headers else {}
        exchange = _Exchange(_logged(headers, custom, target.credentials), started)
        # Only custom headers can be malformed: the others are built here from checked values.
        problem = target.problem or (header_problem(custom) if custom else None)
        if problem is not None:
            return exchange.outcome("blocked", f"request not sent: {problem}")
        assert target.url is not None  # a URL that does not parse has a problem
        try:
            check_literal(target.url.raw_host or "", allow_private=self._allow_private)
        except EgressRefused as exc:
            return exchange.outcome("blocked", str(exc))
        authorization = target.authorization
        if authorization is not None:
            if any(name.lower() == "authorization" for name in headers):
                return exchange.outcome("blocked", "request not sent: the URL carries a user and password and a "
                                                   "custom Authorization header is set too; keep one of them")
            headers["Authorization"] = authorization
        return body, headers, exchange

    async def attempt(self, job: Job) -> Outcome:
        """POST the job's payload once; every remote and local fault comes back as an Outcome."""
        prepared = self._prepare(job)
        if isinstance(prepared, Outcome):
            return prepared
        body, headers, exchange = prepared
        loop = self._loop or asyncio.get_running_loop()  # each call is a getpid() on Python 3.11
        task = asyncio.current_task(loop)
        assert task is not None, "attempt() runs in a task"
        deadline = _Deadline(task)
        self._deadlines.add(loop, job.timeout_ms / 1000, deadline)
        try:
            return await self._call(job.webhook_url, body, headers, exchange)
        except asyncio.CancelledError:
            # Ours if the deadline fired and nobody else (a shutdown) cancelled the task too.
            if deadline.expired and task.uncancel() == 0:
                return exchange.outcome("timeout", f"no complete response within {job.timeout_ms} ms")
            raise
        except EgressRefused as exc:
            return exchange.outcome("blocked", str(exc))
        except (http1.HTTPFault, OSError) as exc:
            error_type, message = classify(exc)
            return exchange.outcome(error_type, one_line(message))
        finally:
            self._deadlines.end(deadline)

    async def _call(self, url: str, body: bytes, headers: dict[str, str], exchange: _Exchange) -> Outcome:
        pool = self._require_pool()
        target = target_url(url)
        response = exchange.response = http1.Response(self._max_response_bytes, _PICKED)
        await pool.exchange(target, http1.encode_request(target, headers, body), response)
        return exchange.finished()

    def _require_pool(self) -> http1.Pool:
        if self._pool is None:
            raise RuntimeError("Deliverer used outside `async with`")
        return self._pool


def response_date(value: str | None) -> float | None:
    """The response's Date header as a unix time, or None.

    A Retry-After date is read against it, not against our clock: the two dates come
    from the same server, so a sidecar whose clock is off still waits what was asked.
    """
    return http_date(value) if value else None


def classify(exc: BaseException) -> tuple[ErrorType, str]:
    """The error type and message of an exception raised while calling the target."""
    if isinstance(exc, http1.InvalidBody):
        return "invalid_response", f"malformed response body: {exc}"
    if isinstance(exc, http1.InvalidResponse):
        return "invalid_response", f"not a valid HTTP response: {exc}"
    return "network", _network_message(exc)


_NETWORK_PREFIX: dict[type[BaseException], str] = {
    http1.DNSFailed: "DNS lookup failed",
    http1.ConnectFailed: "connection failed",
    http1.TLSFailed: "TLS handshake failed",
}


def _network_message(exc: BaseException) -> str:
    if isinstance(exc, http1.NoResponse):
        return f"connection closed without a response: {exc}" if str(exc) else "connection closed without a response"
    if isinstance(exc, http1.ResponseCut):
        return f"connection lost while reading the response {exc.part}: {exc}"
    prefix = _NETWORK_PREFIX.get(type(exc))
    if prefix is not None:
        return f"{prefix}: {exc}"
    return f"connection error: {type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
