"""The HTTP/1.1 client's pool against real servers on 127.0.0.1: when a connection is reused, closed, limited."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trustme
from yarl import URL

from sidecar.delivery import egress, http1
from sidecar.delivery.egress import CheckedResolver, EgressRefused
from tests.http.conftest import Handler, RawServer, read_request_head

Start = Callable[[Handler], Awaitable[RawServer]]
SIZED = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
async def pool() -> AsyncIterator[http1.Pool]:
    pool = http1.Pool(CheckedResolver(allow_private=True), limit=10)
    yield pool
    pool.close()


async def post(pool: http1.Pool, url: str, cap: int = 65536) -> http1.Response:
    response = http1.Response(cap)
    target = URL(url)
    await pool.exchange(target, http1.encode_request(target, {"Content-Type": "application/json"}, b"{}"), response)
    return response


@dataclass
class Script:
    """Answers every request on any connection with the next answer (the last repeats); notes hang-ups."""

    answers: list[bytes]
    requests: int = 0
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await read_request_head(reader)
                match = re.search(rb"Content-Length: (\d+)", head)
                await reader.readexactly(int(match[1]) if match else 0)
                self.requests += 1
                writer.write(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client hung up
        finally:
            self.hung_up.set()


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("answer", [
    SIZED,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n" + SIZED,
], ids=["content-length", "chunked", "204", "interim"])
async def test_a_complete_response_leaves_the_connection_for_the_next(
    pool: http1.Pool, raw_server: Start, answer: bytes
) -> None:
    server = await raw_server(Script([answer]))
    for _ in range(3):
        assert (await post(pool, server.url)).complete
    assert server.connections == 1 and pool.idle == 1


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    SIZED + b"HTTP/1.1 200 OK\r\n",  # bytes nobody asked for
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
], ids=["connection-close", "http-1.0", "stray-bytes", "length-and-chunked"])
async def test_a_response_that_ends_its_connection_gets_a_new_one_next_time(
    pool: http1.Pool, raw_server: Start, answer: bytes
) -> None:
    script = Script([answer])
    server = await raw_server(script)
    for _ in range(3):
        assert (await post(pool, server.url)).complete
    assert server.connections == 3 and pool.idle == 0
    await script.hung_up.wait()


async def test_a_body_over_the_cap_closes_the_connection(pool: http1.Pool, raw_server: Start) -> None:
    script = Script([b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1_000_000])
    server = await raw_server(script)
    response = await post(pool, server.url, cap=100)
    assert response.done and not response.complete
    assert response.header_bytes == len("Content-Length") + len("1000000") + 4 and len(response.body) == 100 - 25
    assert pool.idle == 0
    await script.hung_up.wait()  # hung up instead of reading the rest
    await post(pool, server.url, cap=100)
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_used(pool: http1.Pool, raw_server: Start) -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        await reader.readexactly(2)
        writer.write(SIZED)
        await writer.drain()
        writer.close()

    server = await raw_server(once_then_close)
    assert (await post(pool, server.url)).complete
    await until(lambda: pool.idle == 0)
    assert (await post(pool, server.url)).complete
    assert server.connections == 2


async def test_idle_connections_close_after_the_keepalive_timeout(raw_server: Start) -> None:
    script = Script([SIZED])
    server = await raw_server(script)
    pool = http1.Pool(CheckedResolver(allow_private=True), keepalive_s=0.05)
    try:
        assert (await post(pool, server.url)).complete
        assert pool.idle == 1
        await script.hung_up.wait()  # closed by the pool's sweep, not by the server
        assert pool.idle == 0
        assert (await post(pool, server.url)).complete
        assert server.connections == 2
    finally:
        pool.close()


async def test_cancelling_an_exchange_closes_its_connection(pool: http1.Pool, raw_server: Start) -> None:
    asked, hung_up = asyncio.Event(), asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        asked.set()
        await reader.read()  # until the client hangs up
        hung_up.set()

    server = await raw_server(never_answer)
    task = asyncio.ensure_future(post(pool, server.url))
    await asked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await hung_up.wait()
    assert pool.idle == 0 and pool._in_use == 0


async def test_cancelling_mid_body_closes_the_connection(pool: http1.Pool, raw_server: Start) -> None:
    started, hung_up = asyncio.Event(), asyncio.Event()

    async def half_a_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        started.set()
        await reader.read()
        hung_up.set()

    server = await raw_server(half_a_body)
    response = http1.Response(65536)
    target = URL(server.url)
    task = asyncio.ensure_future(pool.exchange(target, http1.encode_request(target, {}, b""), response))
    await started.wait()
    await until(lambda: bytes(response.body) == b"half")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await hung_up.wait()
    assert pool.idle == 0


async def test_the_total_limit_holds_callers_until_a_connection_is_free(raw_server: Start) -> None:
    open_now, most = 0, 0
    go = asyncio.Event()

    async def count_concurrent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                await read_request_head(reader)
                await reader.readexactly(2)
                await go.wait()
                writer.write(SIZED)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            open_now -= 1

    server = await raw_server(count_concurrent)
    pool = http1.Pool(CheckedResolver(allow_private=True), limit=1)
    try:
        tasks = [asyncio.ensure_future(post(pool, server.url)) for _ in range(3)]
        await until(lambda: server.connections == 1)
        go.set()
        assert all(r.complete for r in await asyncio.gather(*tasks))
        assert most == 1 and server.connections == 1
    finally:
        pool.close()


async def test_a_cancelled_waiter_gives_its_turn_back(raw_server: Start) -> None:
    asked = asyncio.Event()

    async def first_hangs(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        await reader.readexactly(2)
        if not asked.is_set():
            asked.set()
            await reader.read()
            return
        writer.write(SIZED)
        await writer.drain()

    server = await raw_server(first_hangs)
    pool = http1.Pool(CheckedResolver(allow_private=True), limit=1)
    try:
        hanging = asyncio.ensure_future(post(pool, server.url))
        await asked.wait()
        waiting = asyncio.ensure_future(post(pool, server.url))
        await until(lambda: len(pool._waiters) == 1)
        waiting.cancel()
        hanging.cancel()
        await asyncio.gather(hanging, waiting, return_exceptions=True)
        assert pool._in_use == 0
        assert (await post(pool, server.url)).complete
    finally:
        pool.close()


async def test_the_per_host_limit_is_per_host(raw_server: Start) -> None:
    asked = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        asked.set()
        await reader.read()

    hanging, answering = await raw_server(hang), await raw_server(Script([SIZED]))
    pool = http1.Pool(CheckedResolver(allow_private=True), limit=10, limit_per_host=1)
    try:
        first = asyncio.ensure_future(post(pool, hanging.url))
        await asked.wait()
        second = asyncio.ensure_future(post(pool, hanging.url))
        assert (await post(pool, answering.url)).complete  # another host is not held up
        assert hanging.connections == 1 and not second.done()
        first.cancel()
        await until(lambda: hanging.connections == 2)  # the freed turn went to the waiting caller
        second.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        assert pool._in_use == 0
    finally:
        pool.close()


async def test_a_refused_connection_is_connect_failed(pool: http1.Pool) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(http1.ConnectFailed, match="cannot connect to 127.0.0.1"):
            await post(pool, f"http://127.0.0.1:{sock.getsockname()[1]}/")
    assert pool._in_use == 0


async def test_every_checked_address_is_tried_in_order(pool: http1.Pool, raw_server: Start,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server = await raw_server(Script([SIZED]))
    port = int(URL(server.url).port or 0)
    with socket.socket() as closed:
        closed.bind(("127.0.0.2", 0))

        async def two_addresses(host: str, port: int, family: int) -> list[egress.ResolveResult]:
            return [egress._to_result(host, port, (socket.AF_INET, 1, 6, "", (a, port))) for a in ("127.0.0.2", "127.0.0.1")]

        monkeypatch.setattr(egress, "_getaddrinfo", two_addresses)
        assert (await post(pool, f"http://hooks.test:{port}/")).complete
    assert server.connections == 1


async def test_a_name_that_does_not_resolve_is_dns_failed(pool: http1.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_such_host(host: str, port: int, family: int) -> list[egress.ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(egress, "_getaddrinfo", no_such_host)
    with pytest.raises(http1.DNSFailed, match="Name or service not known"):
        await post(pool, "http://no-such-host.invalid/")


async def test_a_refused_address_is_never_dialled(raw_server: Start) -> None:
    server = await raw_server(Script([SIZED]))
    pool = http1.Pool(CheckedResolver(allow_private=False))
    try:
        for host in ("localhost", "127.0.0.1"):
            with pytest.raises(EgressRefused):
                await post(pool, f"http://{host}:{URL(server.url).port}/")
    finally:
        pool.close()
    assert server.connections == 0 and pool._in_use == 0


# -- TLS ---------------------------------------------------------------------------------


@dataclass
class TLSServer:
    url: str
    trusting: ssl.SSLContext  # a client context that trusts the server's CA
    names: list[str | None]  # the SNI each handshake asked for


@pytest.fixture
async def tls_server(raw_server: Start) -> AsyncIterator[Callable[[str], Awaitable[TLSServer]]]:
    servers: list[asyncio.Server] = []

    async def start(name: str) -> TLSServer:
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(server_context)
        names: list[str | None] = []
        server_context.sni_callback = lambda _sock, sni, _ctx: names.append(sni)  # type: ignore[assignment]
        server = await asyncio.start_server(Script([SIZED]), "127.0.0.1", 0, ssl=server_context)
        servers.append(server)
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        return TLSServer(f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/", trusting, names)

    yield start
    for server in servers:
        server.close()


async def test_tls_with_a_trusted_certificate_is_reused(tls_server: Callable[[str], Awaitable[TLSServer]]) -> None:
    server = await tls_server("127.0.0.1")
    pool = http1.Pool(CheckedResolver(allow_private=True), tls_context=server.trusting)
    try:
        for _ in range(2):
            response = await post(pool, server.url)
            assert response.complete and bytes(response.body) == b"ok"
        assert len(server.names) == 1 and pool.idle == 1  # one handshake
    finally:
        pool.close()


async def test_tls_sends_the_host_name_as_sni(tls_server: Callable[[str], Awaitable[TLSServer]]) -> None:
    server = await tls_server("localhost")
    pool = http1.Pool(CheckedResolver(allow_private=True), tls_context=server.trusting)
    try:
        assert (await post(pool, server.url.replace("127.0.0.1", "localhost"))).complete
    finally:
        pool.close()
    assert server.names == ["localhost"]


async def test_tls_checks_the_name_on_the_certificate(tls_server: Callable[[str], Awaitable[TLSServer]]) -> None:
    server = await tls_server("other.example")
    pool = http1.Pool(CheckedResolver(allow_private=True), tls_context=server.trusting)
    try:
        with pytest.raises(http1.TLSFailed, match="mismatch"):
            await post(pool, server.url)
    finally:
        pool.close()


async def test_tls_by_default_trusts_only_the_system_store(tls_server: Callable[[str], Awaitable[TLSServer]]) -> None:
    server = await tls_server("127.0.0.1")
    pool = http1.Pool(CheckedResolver(allow_private=True))
    try:
        with pytest.raises(http1.TLSFailed, match="certificate verify failed"):
            await post(pool, server.url)
    finally:
        pool.close()
    assert pool._in_use == 0
