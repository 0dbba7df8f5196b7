# Engine: aiohttp, one shared ClientSession/TCPConnector: ~14k POST/s vs httpx's ~670 at c=50 (bench/RESULTS.md).
"""One HTTP attempt of a webhook delivery, returned as an `Outcome` value.

Stages: prepare (body, headers, signature, egress check of literal IPs) -> call
(one deadline for connect, send, headers and body) -> classify. Remote faults
become values; only cancellation and programming errors propagate.

Exceptions from aiohttp, and how they are classified:

    TimeoutError (our deadline)                  -> timeout
    EgressRefused (literal IP or CheckedResolver)  -> blocked
    aiohttp.ClientError
      ├── ClientResponseError (unparsable status line / headers) -> invalid_response
      ├── ClientPayloadError  (body cut short: reset, early close) -> network
      │                       (malformed chunked framing)         -> invalid_response
      ├── ClientConnectionError
      │     ├── ClientConnectorDNSError            -> network "DNS lookup failed"
      │     ├── ClientSSLError / certificate errors -> network "TLS"
      │     ├── ClientConnectorError               -> network "connection failed"
      │     ├── ServerDisconnectedError            -> network "closed without a response"
      │     └── ClientOSError (reset, broken pipe)  -> network
      └── InvalidURL                              -> network "invalid URL"
    OSError (anything the above did not wrap)     -> network
"""

from __future__ import annotations

import asyncio
import http
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import ClientResponse
from yarl import URL

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
    """The request's headers as logged: secrets masked, plus the Basic auth aiohttp adds for URL credentials."""
    logged = mask_headers(headers)
    try:
        has_credentials = target_url(url).user is not None
    except ValueError:
        has_credentials = False
    if has_credentials:
        logged["Authorization"] = MASK
    return logged


def response_headers_dict(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; repeated headers joined with ", " so none is lost; secrets masked."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if is_secret_header(key):
            merged[key] = MASK
        elif key in merged:
            merged[key] = f"{merged[key]}, {value}"
        else:
            merged[key] = value
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
    except ValueError as exc:
        return f"invalid URL: {exc}"
    if parsed.scheme not in ("http", "https"):
        return "invalid URL: only http:// and https:// targets can be called"
    if not parsed.raw_host:
        return "invalid URL: it names no host"
    if not port:
        return "invalid URL: port 0 cannot be called"
    return None


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


@dataclass(slots=True)
class _Exchange:
    """What has been received so far, kept when the attempt fails part-way."""

    request_headers: dict[str, str]
    started: float
    status: int | None = None
    reason: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    body: bytearray | None = None
    retry_after_s: float | None = None

    def outcome(self, error_type: ErrorType | None = None, message: str | None = None) -> Outcome:
        ended = time.monotonic()
        return Outcome(
            request_headers=self.request_headers,
            duration_ms=int((ended - self.started) * 1000),
            ended_at=ended,
            status=self.status,
            response_headers=self.response_headers,
            response_body=None if self.body is None else self.body.decode("utf-8", "replace"),
            error_type=error_type,
            error_message=message,
            retry_after_s=self.retry_after_s,
        )

    def finished(self) -> Outcome:
        assert self.status is not None
        if 200 <= self.status < 300:
            return self.outcome()
        return self.outcome("http_error", status_message(self.status, self.reason))


class _Deadline:
    """Cancels the attempt's task when its time is up.

    asyncio.timeout's job with one timer and no context manager: ~1 us per attempt
    against ~5 us. The timer can only fire while the task waits inside the attempt, so
    the cancellation always lands in the attempt's own `try`.
    """

    __slots__ = ("_task", "expired")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self._task = task
        self.expired = False

    def __call__(self) -> None:
        self.expired = True
        self._task.cancel()


class Deliverer:
    """Makes attempts over one shared connection pool; use as `async with Deliverer(...) as d`."""

    def __init__(
        self,
        *,
        max_response_bytes: int = 65536,
        allow_private_targets: bool = False,
        user_agent: str = USER_AGENT,
        limit: int = 100,
        limit_per_host: int = 0,
        keepalive_timeout: float = 15.0,
    ) -> None:
        self._max_response_bytes = max_response_bytes
        self._allow_private = allow_private_targets
        self._user_agent = user_agent
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive_timeout = keepalive_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._new_session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            # Our resolver checks every address; a cache would let a stale answer skip it.
            use_dns_cache=False,
            resolver=CheckedResolver(allow_private=self._allow_private),
            keepalive_timeout=self._keepalive_timeout,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # The attempt's deadline is enforced around the whole call instead.
            timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None),
            # Bodies are stored as raw bytes, so compression is neither asked for nor undone.
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            read_bufsize=max(1024, min(self._max_response_bytes, 1 << 16)),
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

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
        exchange = _Exchange(logged_request_headers(job.webhook_url, headers), started)
        # aiohttp asserts instead of raising on some of these (a port out of range).
        # Only custom headers can be malformed: the others are built here from checked values.
        problem = url_problem(job.webhook_url) or header_problem(_custom_headers(job.custom_headers))
        if problem is not None:
            return exchange.outcome("blocked", f"request not sent: {problem}")
        try:
            check_literal(target_url(job.webhook_url).raw_host or "", allow_private=self._allow_private)
        except EgressRefused as exc:
            return exchange.outcome("blocked", str(exc))
        return body, headers, exchange

    async def attempt(self, job: Job) -> Outcome:
        """POST the job's payload once; every remote and local fault comes back as an Outcome."""
        prepared = self._prepare(job)
        if isinstance(prepared, Outcome):
            return prepared
        body, headers, exchange = prepared
        task = asyncio.current_task()
        assert task is not None, "attempt() runs in a task"
        deadline = _Deadline(task)
        timer = asyncio.get_running_loop().call_later(job.timeout_ms / 1000, deadline)
        try:
            return await self._call(job.webhook_url, body, headers, exchange)
        except asyncio.CancelledError:
            # Ours if the deadline fired and nobody else (a shutdown) cancelled the task too.
            if deadline.expired and task.uncancel() == 0:
                return exchange.outcome("timeout", f"no complete response within {job.timeout_ms} ms")
            raise
        except TimeoutError:
            return exchange.outcome("timeout", f"no complete response within {job.timeout_ms} ms")
        except EgressRefused as exc:
            return exchange.outcome("blocked", str(exc))
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error_type, message = classify(exc)
            return exchange.outcome(error_type, one_line(message))
        finally:
            timer.cancel()

    async def _call(self, url: str, body: bytes, headers: dict[str, str], exchange: _Exchange) -> Outcome:
        session = self._require_session()
        target = target_url(url)
        response = await session.post(target, data=body, headers=headers, allow_redirects=False)
        try:
            body_so_far, header_bytes = _record_head(exchange, response, self._max_response_bytes)
            await _read_capped(response, body_so_far, self._max_response_bytes - header_bytes)
        finally:
            _let_go(response)
        return exchange.finished()

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Deliverer used outside `async with`")
        return self._session


def _record_head(exchange: _Exchange, response: ClientResponse, cap: int) -> tuple[bytearray, int]:
    """Keep status and headers within `cap` bytes; returns the (empty) body buffer and the bytes the headers used."""
    exchange.status = response.status
    exchange.reason = response.reason
    body = exchange.body = bytearray()
    kept, used = capped_headers(response.raw_headers, cap)
    exchange.response_headers = response_headers_dict(kept)
    if response.status in RETRY_AFTER_STATUSES:
        exchange.retry_after_s = parse_retry_after(response.headers.get("Retry-After"),
                                                   now=response_date(response.headers.get("Date")))
    return body, used


def capped_headers(raw: Iterable[tuple[bytes, bytes]], cap: int) -> tuple[list[tuple[str, str]], int]:
    """The response headers that fit in `cap` bytes (name + value + 4 per line), and the bytes they use.

    Headers share WEBHOOK_MAX_RESPONSE_BYTES with the body: a peer cannot make one
    stored attempt larger by sending its bulk as headers.
    """
    kept: list[tuple[str, str]] = []
    used = 0
    for name, value in raw:
        size = len(name) + len(value) + 4
        if used + size > cap:
            break
        used += size
        kept.append((name.decode("latin-1"), value.decode("latin-1")))
    return kept, used


def response_date(value: str | None) -> float | None:
    """The response's Date header as a unix time, or None.

    A Retry-After date is read against it, not against our clock: the two dates come
    from the same server, so a sidecar whose clock is off still waits what was asked.
    """
    return http_date(value) if value else None


async def _read_capped(response: ClientResponse, into: bytearray, cap: int) -> None:
    """Stream the body into `into` until EOF or `cap` bytes; in place, so a failure keeps the prefix."""
    content = response.content
    while len(into) < cap:
        # A small body has usually arrived with the head: take it without a coroutine round.
        chunk = content.read_nowait(cap - len(into))
        if not chunk:
            if content.at_eof():
                return
            chunk = await content.read(cap - len(into))
            if not chunk:
                return
        into += chunk


def _let_go(response: ClientResponse) -> None:
    # A body left unread (over the cap, or after an error) poisons the connection: close it.
    if response.content.is_eof():
        response.release()
    else:
        response.close()


def classify(exc: BaseException) -> tuple[ErrorType, str]:
    """The error type and message of an exception raised while calling the target."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return "invalid_response", f"not a valid HTTP response: {exc.message}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _classify_payload(exc)
    # yarl and aiohttp refuse malformed URLs with ValueError; aiohttp's certificate
    # error is a ValueError too (through ssl.CertificateError), so it is excluded.
    if isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError):
        return "network", f"invalid URL: {exc}"
    return "network", _network_message(exc)


def _classify_payload(exc: aiohttp.ClientPayloadError) -> tuple[ErrorType, str]:
    text = str(exc)
    # The connection ending early (reset or close) versus the peer sending broken framing.
    if "not completed" in text or isinstance(exc.__cause__, OSError):
        return "network", f"connection lost while reading the response body: {text}"
    return "invalid_response", f"malformed response body: {text}"


def _network_message(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed: {exc}"
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
        return f"TLS handshake failed: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {exc}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed without a response"
    return f"connection error: {type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
