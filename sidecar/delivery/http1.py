"""A small HTTP/1.1 client for delivery attempts: a keep-alive pool and one exchange.

Built on asyncio Protocols, so it runs on uvloop and on the default loop. It does what
an attempt needs and no more: the request is written in one call, the response is
parsed as it arrives and kept only up to the caller's cap. It has no timeouts of its
own: the attempt's deadline cancels the task, and a cancelled exchange closes its
connection. No redirects, cookies or compression.

A connection goes back to the pool only after a complete HTTP/1.1 response (its
Content-Length read, or its chunks terminated) without `Connection: close` and with no
byte after it; anything else closes it. Idle connections close after `keepalive_s`.

Faults of the remote side, and what sends them:

    HTTPFault
      ├── DNSFailed        the target's name did not resolve
      ├── ConnectFailed    no address of the target accepted a connection
      ├── TLSFailed        the TLS handshake or the certificate check failed
      ├── NoResponse       closed or reset before a status line arrived
      ├── ResponseCut      closed or reset in the middle of the head or the body
      └── InvalidResponse  bytes that are not an HTTP/1.x response, or over the head's limits
            └── InvalidBody  broken body framing (a chunk size, a chunk's end)

EgressRefused (sidecar/delivery/egress.py) passes through unchanged: the pool dials only the
addresses `CheckedResolver.addresses` returns.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import cast

from yarl import URL

from sidecar.delivery.egress import CheckedResolver
from sidecar.errors import SidecarError

Key = tuple[str, str, int]  # scheme, host, port
Field = tuple[bytes, bytes]

# aiohttp's client limits: a head is at most MAX_FIELDS lines of MAX_LINE bytes (~1 MiB),
# parsed a line at a time, so a flood costs at most one line of memory.
MAX_LINE = 8190
MAX_FIELDS = 128
MAX_INTERIM = 16  # 1xx responses before the final one
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
# A token, a colon, then field-value characters (VCHAR, obs-text, SP, HTAB): RFC 9110 section 5.
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)")
# The usual case in one match: a whole final head (status line, fields, empty line) in
# one read. Anything else (a 1xx, a bad line, a head split over reads) takes the line path.
_WHOLE_HEAD = re.compile(
    rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?\r\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*)\r\n")
# One field of such a head: the value without its surrounding whitespace, as _FIELD + rstrip.
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*\r\n")
_DIGITS = re.compile(rb"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class HTTPFault(SidecarError):
    """The remote side did not give a complete, valid response."""


class DNSFailed(HTTPFault):
    """The target's name did not resolve."""


class ConnectFailed(HTTPFault):
    """No address of the target accepted a connection."""


class TLSFailed(HTTPFault):
    """The TLS handshake or the certificate check failed."""


class NoResponse(HTTPFault):
    """The connection ended before a status line; the message says how when it was not a clean close."""


class ResponseCut(HTTPFault):
    """The connection ended in the middle of the response's `part` ("head" or "body")."""

    def __init__(self, part: str, how: str) -> None:
        super().__init__(how)
        self.part = part


class InvalidResponse(HTTPFault):
    """Bytes that are not an HTTP/1.x response."""


class InvalidBody(InvalidResponse):
    """The body's framing is broken."""


def encode_request(url: URL, headers: Mapping[str, str], body: bytes) -> bytes:
    """POST `body` to `url`: Host, Content-Length, then `headers` in order; head and body in one buffer."""
    lines = [f"POST {url.raw_path_qs} HTTP/1.1", f"Host: {url.host_port_subcomponent}", f"Content-Length: {len(body)}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    lines.append("\r\n")
    return "\r\n".join(lines).encode() + body


State = Callable[["Response", bytes, int], int]


class Response:
    """One response as it arrives, kept within `cap` bytes: header lines (name + value + 4) and body share it.

    Filled in place, so what arrived before a fault stays readable. `status`, `reason`,
    `headers` and `fields` belong to the final (non-1xx) head and are set once it is
    complete; `headers` are the lines that fit the cap, in order, and stop at the first
    that does not; `fields` holds the framing headers and those named in `picked`, in
    full, repeated ones joined with ", ". `done` once complete, capped or failed.

    Parsing is a state per part (head, sized body, chunk size, ...): each takes the
    bytes from `pos` and returns where it stopped; no progress means it needs more.
    Lines end in CRLF.
    """

    __slots__ = ("cap", "status", "reason", "headers", "header_bytes", "fields", "body", "done", "complete",
                 "reusable", "_watched", "_state", "_pending", "_left", "_code", "_reason", "_minor",
                 "_lines", "_kept", "_used", "_keeping", "_interim", "_found")

    def __init__(self, cap: int, picked: frozenset[bytes] = frozenset()) -> None:
        self.cap = cap
        self.status: int | None = None
        self.reason = ""
        self.headers: list[Field] = []
        self.header_bytes = 0
        self.fields: dict[bytes, bytes] = {}
        self.body = bytearray()
        self.done = False
        self.complete = False
        self.reusable = False
        self._watched = _watched(picked)
        self._state: State = Response._head
        self._pending = b""
        self._left = 0
        self._interim = 0
        self._new_head()

    def _new_head(self) -> None:
        self._code = 0
        self._reason = b""
        self._minor = 1
        self._lines = 0
        self._kept: list[Field] = []
        self._used = 0
        self._keeping = True
        self._found: dict[bytes, bytes] = {}

    # -- input --------------------------------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """Take the next bytes; True once done. Raises InvalidResponse for bytes that are not HTTP."""
        if self.done:
            self.reusable = False  # bytes after the response: the peer is not answering one request at a time
            return True
        if self._pending:
            data = self._pending + data
        pos = 0
        while not self.done:
            after = self._state(self, data, pos)
            if after == pos:
                self._pending = data[pos:]
                return False
            pos = after
        self._pending = b""
        if pos < len(data):
            self.reusable = False
        return True

    def feed_eof(self, exc: BaseException | None) -> None:
        """The connection ended (`exc` says how, None for a clean close); raises unless that completes the response."""
        if self.done:
            return
        self.done = True
        self.reusable = False
        if self._state is Response._until_close and exc is None:
            self.complete = True
            return
        how = "closed by the peer" if exc is None else _describe(exc)
        if self.status is not None:
            raise ResponseCut("body", how)
        if not self._code and not self._interim:
            if self._pending and not b"HTTP/".startswith(self._pending[:5]):
                raise InvalidResponse(f"bad status line {self._pending[:100]!r}")
            raise NoResponse("" if exc is None else how)
        raise ResponseCut("head", how)

    def fail(self) -> None:
        """Stop parsing: a fault was raised."""
        self.done = True
        self.reusable = False

    # -- the head -----------------------------------------------------------------------

    def _head(self, data: bytes, pos: int) -> int:
        if not self._code and not self._interim:
            whole = _WHOLE_HEAD.match(data, pos)
            if whole is not None and whole.end() - pos <= MAX_LINE and whole[2][:1] != b"1":
                return self._whole_head(whole)
        lines, after, ended = _section(data, pos, InvalidResponse)
        if lines:
            self._head_lines(lines)
        if ended:
            self._head_done()
        return after

    def _whole_head(self, whole: re.Match[bytes]) -> int:
        """A complete final head that fits one line's limit: the same result as the line path, in fewer steps."""
        self._minor, self._code, self._reason = int(whole[1]), int(whole[2]), whole[3] or b""
        fields: list[Field] = _FIELD_LINE.findall(whole[4])
        self._lines = len(fields)
        if self._lines > MAX_FIELDS:
            raise InvalidResponse(f"more than {MAX_FIELDS} header fields")
        watched, found = self._watched, self._found
        used = 4 * len(fields)
        for name, value in fields:
            used += len(name) + len(value)
            lower = name.lower()
            if lower in watched:
                earlier = found.get(lower)
                found[lower] = value if earlier is None else earlier + b", " + value
        if used <= self.cap:
            self._kept, self._used = fields, used
        else:
            self._keep_fields(fields)
        self._head_done()
        return whole.end()

    def _keep_fields(self, fields: list[Field]) -> None:
        kept, cap = self._kept, self.cap
        for name, value in fields:
            size = len(name) + len(value) + 4
            if self._used + size > cap:
                self._keeping = False
                return
            kept.append((name, value))
            self._used += size

    def _head_lines(self, lines: list[bytes]) -> None:
        if not self._code:
            self._status_line(lines[0])
            del lines[0]
        self._lines += len(lines)
        if self._lines > MAX_FIELDS:
            raise InvalidResponse(f"more than {MAX_FIELDS} header fields")
        watched, found, kept, cap = self._watched, self._found, self._kept, self.cap
        for line in lines:  # one pass per line, inlined: this loop is most of a response's parsing
            match = _FIELD.fullmatch(line) if len(line) <= MAX_LINE else None
            if match is None:
                raise InvalidResponse(_field_problem(line))
            name, value = match[1], match[2].rstrip(b" \t")
            lower = name.lower()
            if lower in watched:
                earlier = found.get(lower)
                found[lower] = value if earlier is None else earlier + b", " + value
            if self._keeping:
                size = len(name) + len(value) + 4
                if self._used + size <= cap:
                    kept.append((name, value))
                    self._used += size
                else:
                    self._keeping = False

    def _status_line(self, line: bytes) -> None:
        match = _STATUS_LINE.fullmatch(line) if len(line) <= MAX_LINE else None
        if match is None:
            raise InvalidResponse(f"bad status line {line[:100]!r}")
        self._minor, self._code, self._reason = int(match[1]), int(match[2]), match[3] or b""

    def _head_done(self) -> None:
        if not self._code:
            raise InvalidResponse("an empty line where the status line should be")
        if self._code < 200:
            self._interim_done()
            return
        self.status, self.reason = self._code, self._reason.decode("latin-1")
        self.headers, self.header_bytes, self.fields = self._kept, self._used, self._found
        self.reusable = self._minor == 1 and not _says_close(self._found.get(b"connection"))
        self._frame_body()

    def _interim_done(self) -> None:
        if self._code == 101:
            raise InvalidResponse("101 Switching Protocols, but no upgrade was asked for")
        self._interim += 1
        if self._interim > MAX_INTERIM:
            raise InvalidResponse(f"more than {MAX_INTERIM} interim (1xx) responses")
        self._new_head()

    def _frame_body(self) -> None:
        """RFC 9112 section 6.3: no body, chunked, Content-Length, or everything until the close."""
        fields = self.fields
        coding = fields.get(b"transfer-encoding")
        length = fields.get(b"content-length")
        if self.status in (204, 304):
            self._finish()
        elif coding is not None:
            self.reusable = self.reusable and length is None  # both: a smuggling pattern, never reuse
            if coding.rsplit(b",", 1)[-1].strip(b" \t").lower() == b"chunked":
                self._state = Response._chunk_size
            else:
                self._until_eof()
        elif length is not None:
            self._left = _content_length(length)
            self._state = Response._sized
            if not self._left:
                self._finish()
        else:
            self._until_eof()

    def _until_eof(self) -> None:
        self.reusable = False
        self._state = Response._until_close

    # -- the body -----------------------------------------------------------------------

    def _keep(self, data: bytes, start: int, end: int) -> bool:
        """Add data[start:end] to the body; False (and done) when it goes past the cap."""
        room = self.cap - self.header_bytes - len(self.body)
        if end - start <= room:
            self.body += data[start:end]
            return True
        self.body += data[start:start + room]
        self.done = True  # capped: the rest is never read, so the connection cannot be reused
        self.reusable = False
        return False

    def _sized(self, data: bytes, pos: int) -> int:
        end = min(len(data), pos + self._left)
        if end > pos and self._keep(data, pos, end):
            self._left -= end - pos
            if not self._left:
                self._finish()
        return end

    def _until_close(self, data: bytes, pos: int) -> int:
        if len(data) > pos:
            self._keep(data, pos, len(data))
        return len(data)

    def _chunk_size(self, data: bytes, pos: int) -> int:
        end = data.find(b"\r\n", pos, pos + MAX_LINE + 2)
        if end < 0:
            if len(data) - pos > MAX_LINE + 1:
                raise InvalidBody(f"a chunk size line is longer than {MAX_LINE} bytes")
            return pos
        line = data[pos:end]
        size = line.split(b";", 1)[0].rstrip(b" \t")  # chunk extensions are ignored
        if not _HEX.fullmatch(size):
            raise InvalidBody(f"bad chunk size line {line[:100]!r}")
        self._left = int(size, 16)
        self._state = Response._chunk_data if self._left else Response._trailers
        return end + 2

    def _chunk_data(self, data: bytes, pos: int) -> int:
        end = min(len(data), pos + self._left)
        if end > pos and self._keep(data, pos, end):
            self._left -= end - pos
            if not self._left:
                self._state = Response._chunk_end
        return end

    def _chunk_end(self, data: bytes, pos: int) -> int:
        ending = data[pos:pos + 2]
        if ending == b"\r\n":
            self._state = Response._chunk_size
            return pos + 2
        if not b"\r\n".startswith(ending):
            raise InvalidBody("a chunk is longer than its size says")
        return pos

    def _trailers(self, data: bytes, pos: int) -> int:
        lines, after, ended = _section(data, pos, InvalidBody)
        self._lines += len(lines)
        if self._lines > MAX_FIELDS:
            raise InvalidBody(f"more than {MAX_FIELDS} header and trailer fields")
        for line in lines:
            _field(line, InvalidBody)  # trailers are checked, not kept
        if ended:
            self._finish()
        return after

    def _finish(self) -> None:
        self.done = True
        self.complete = True


@functools.cache
def _watched(picked: frozenset[bytes]) -> frozenset[bytes]:
    return _FRAMING | picked


def _section(data: bytes, pos: int, fault: type[InvalidResponse]) -> tuple[list[bytes], int, bool]:
    """The complete lines from `pos` up to an empty line; where they stop; whether the empty line came.

    Lines are taken as soon as they are complete, so an endless head costs one line of memory.
    """
    if data.startswith(b"\r\n", pos):
        return [], pos + 2, True
    blank = data.find(b"\r\n\r\n", pos)
    if blank >= 0:
        return data[pos:blank].split(b"\r\n"), blank + 4, True
    last = data.rfind(b"\r\n", pos)
    lines, after = ([], pos) if last < 0 else (data[pos:last].split(b"\r\n"), last + 2)
    if len(data) - after > MAX_LINE:
        raise fault(f"a line of the response is longer than {MAX_LINE} bytes")
    return lines, after, False


def _field(line: bytes, fault: type[InvalidResponse]) -> Field:
    """A header or trailer line's name and value (surrounding whitespace stripped)."""
    match = _FIELD.fullmatch(line) if len(line) <= MAX_LINE else None
    if match is None:
        raise fault(_field_problem(line))
    return match[1], match[2].rstrip(b" \t")


def _field_problem(line: bytes) -> str:
    if len(line) > MAX_LINE:
        return f"a header line is longer than {MAX_LINE} bytes"
    if line[:1] in (b" ", b"\t"):
        return "a header line is folded (obs-fold), which is no longer allowed"
    return f"bad header line {line[:100]!r}"


def _content_length(value: bytes) -> int:
    if value.isdigit() and len(value) <= 18:
        return int(value)
    # Repeated Content-Length headers (or one with a list) are fine if they agree (RFC 9110 section 8.6).
    values = {item.strip(b" \t") for item in value.split(b",")}
    only = values.pop() if len(values) == 1 else b""
    if not _DIGITS.fullmatch(only):
        raise InvalidResponse(f"bad Content-Length {value[:100]!r}")
    return int(only)


def _says_close(connection: bytes | None) -> bool:
    if connection is None or connection == b"keep-alive":
        return False
    return b"close" in (token.strip(b" \t").lower() for token in connection.split(b","))


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _Connection(asyncio.Protocol):
    """One connection: carries one exchange at a time and notices when the peer goes away."""

    __slots__ = ("key", "transport", "response", "waiter", "lost", "idle_since", "_loop")

    def __init__(self, key: Key) -> None:
        self.key = key
        # Made by create_connection, inside its loop. Kept: on Python 3.11 every
        # get_running_loop() is a getpid() system call, and send() runs per request.
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.lost = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:
            self.close()  # bytes while idle: whatever they are, this connection is done
            return
        try:
            done = response.feed(data)
        except HTTPFault as fault:
            response.fail()
            self._settle(fault)
            return
        if done:
            self._settle(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        response = self.response
        if response is None:
            return
        try:
            response.feed_eof(exc)
        except HTTPFault as fault:
            self._settle(fault)
            return
        self._settle(None)

    def send(self, request: bytes, response: Response) -> asyncio.Future[None]:
        """Write `request`; the future resolves once `response` is done, or fails with an HTTPFault."""
        assert self.transport is not None
        self.response = response
        self.waiter = waiter = self._loop.create_future()
        if self.usable():
            self.transport.write(request)
        else:  # lost between connecting and now: connection_lost will not come again
            waiter.set_exception(NoResponse("the connection closed before the request was sent"))
        return waiter

    def usable(self) -> bool:
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()  # close() would wait to flush a buffer a stalled peer never reads

    def _settle(self, fault: HTTPFault | None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if fault is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(fault)


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """The system's trust store, certificate and host name checked: loaded once, on the first https target."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class Pool:
    """Keep-alive connections per (scheme, host, port); at most `limit` in use (`limit_per_host` per key), 0 = no limit."""

    def __init__(self, resolver: CheckedResolver, *, limit: int = 100, limit_per_host: int = 0,
                 keepalive_s: float = 15.0, tls_context: ssl.SSLContext | None = None) -> None:
        self._resolver = resolver
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive_s = keepalive_s
        self._tls_context = tls_context
        self._idle: dict[Key, list[_Connection]] = {}
        self._in_use = 0
        self._in_use_per_host: dict[Key, int] = {}
        self._waiters: deque[tuple[Key, asyncio.Future[None]]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def exchange(self, url: URL, request: bytes, response: Response) -> None:
        """Send `request` to `url`'s origin and fill `response`; raises HTTPFault, EgressRefused or OSError."""
        key = (url.scheme, url.raw_host or "", url.port or 0)
        if not self._closed and self._has_room(key):  # the usual case, without a coroutine for _acquire
            self._take(key)
            connection = self._reuse(key) or await self._connect_taken(key)
        else:
            connection = await self._acquire(key)
        try:
            await connection.send(request, response)
        finally:
            self._release(connection, response.complete and response.reusable)

    def close(self) -> None:
        """Close the idle connections; those in use close when their exchange ends."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for stack in self._idle.values():
            for connection in stack:
                connection.close()
        self._idle.clear()

    @property
    def idle(self) -> int:
        """Idle connections still open."""
        return sum(connection.usable() for stack in self._idle.values() for connection in stack)

    # -- connections --------------------------------------------------------------------

    async def _acquire(self, key: Key) -> _Connection:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        if self._has_room(key):
            self._take(key)
        else:
            await self._wait_for_room(key)
        return self._reuse(key) or await self._connect_taken(key)

    async def _connect_taken(self, key: Key) -> _Connection:
        """A new connection for room already taken; the room is given back if none comes."""
        try:
            return await self._connect(key)
        except BaseException:
            self._give_back(key)
            raise

    def _reuse(self, key: Key) -> _Connection | None:
        stack = self._idle.get(key)
        oldest = time.monotonic() - self._keepalive_s
        while stack:
            connection = stack.pop()
            if connection.usable() and connection.idle_since > oldest:
                return connection
            connection.close()
        return None

    def _release(self, connection: _Connection, reusable: bool) -> None:
        connection.response = None
        connection.waiter = None
        if reusable and not self._closed and connection.usable():
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.key, []).append(connection)
            self._sweep_later()
        else:
            connection.close()
        self._give_back(connection.key)

    async def _connect(self, key: Key) -> _Connection:
        scheme, host, port = key
        tls = (self._tls_context or default_tls_context()) if scheme == "https" else None
        try:
            addresses = await self._resolver.addresses(host, port)
        except OSError as exc:
            raise DNSFailed(f"{host}: {_describe(exc)}") from exc
        loop = asyncio.get_running_loop()
        failures = []
        for address, family in addresses:
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(key), address, port, family=family,
                    ssl=tls, server_hostname=host.rstrip(".") if tls else None)
            except ssl.SSLError as exc:  # certificate errors included: trying another address would not help
                raise TLSFailed(_describe(exc)) from exc
            except OSError as exc:
                failures.append(_describe(exc))
                continue
            return connection
        raise ConnectFailed(f"cannot connect to {host} port {port}: {'; '.join(failures)}")

    # -- idle timeout -------------------------------------------------------------------

    def _sweep_later(self, delay: float | None = None) -> None:
        if self._sweeper is None:
            wait = self._keepalive_s if delay is None else delay
            self._sweeper = asyncio.get_running_loop().call_later(wait, self._sweep)

    def _sweep(self) -> None:
        """Close the connections idle for `keepalive_s`; runs again when the next one is due."""
        self._sweeper = None
        now = time.monotonic()
        for key, stack in list(self._idle.items()):
            fresh = [c for c in stack if c.usable() and c.idle_since > now - self._keepalive_s]
            for connection in stack:
                if connection not in fresh:
                    connection.close()
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]
        if self._idle:
            due = min(c.idle_since for stack in self._idle.values() for c in stack) + self._keepalive_s
            self._sweep_later(max(0.0, due - now))

    # -- limits -------------------------------------------------------------------------

    def _has_room(self, key: Key) -> bool:
        if self._limit and self._in_use >= self._limit:
            return False
        return not self._limit_per_host or self._in_use_per_host.get(key, 0) < self._limit_per_host

    def _take(self, key: Key) -> None:
        self._in_use += 1
        if self._limit_per_host:
            self._in_use_per_host[key] = self._in_use_per_host.get(key, 0) + 1

    def _give_back(self, key: Key) -> None:
        self._in_use -= 1
        if self._limit_per_host:
            left = self._in_use_per_host[key] - 1
            if left:
                self._in_use_per_host[key] = left
            else:
                del self._in_use_per_host[key]
        if self._waiters:
            self._hand_over()

    def _hand_over(self) -> None:
        """Give freed room to the longest waiting caller that fits, taking it on its behalf."""
        for entry in list(self._waiters):
            key, waiter = entry
            if waiter.done():
                self._waiters.remove(entry)
            elif self._has_room(key):
                self._waiters.remove(entry)
                self._take(key)
                waiter.set_result(None)
            elif not self._limit_per_host:
                return  # the total limit is reached: nobody else fits either

    async def _wait_for_room(self, key: Key) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (key, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back(key)  # room was handed over as we were cancelled: pass it on
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise
