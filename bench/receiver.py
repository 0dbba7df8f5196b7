"""Local webhook receivers for the benchmarks, on 127.0.0.1 only.

Two kinds:
- `Nginx`: nginx from the distribution in a temporary prefix, `worker_processes` 1 or
  2, access log off, answering every request with 200 and a tiny JSON body. It is
  the fast receiver: the client, not the server, should be what a run measures.
- `SlowReceiver`: a raw asyncio Protocol server on uvloop that answers each request
  after a fixed delay (nginx cannot delay an answer without extra modules). It can
  also record when each `X-Lead-ID` arrived, which the latency scenario needs.

Run as a script to serve the slow receiver in its own process (so its event loop
does not compete with the client's):

    python bench/receiver.py slow --port 8081 --delay-ms 100 [--record arrivals.json]

It prints `ready <port>` once listening and stops on SIGTERM or SIGINT, writing the
recorded arrivals (lead id -> unix time) when asked to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from sidecar.ops.embedded import free_port

NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp_body;
    proxy_temp_path {prefix}/tmp_proxy;
    fastcgi_temp_path {prefix}/tmp_fastcgi;
    uwsgi_temp_path {prefix}/tmp_uwsgi;
    scgi_temp_path {prefix}/tmp_scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            client_max_body_size 1m;
            client_body_buffer_size 64k;
            default_type application/json;
            return 200 '{{"ok":true}}';
        }}
    }}
}}
"""

OK_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: 11\r\n\r\n{\"ok\":true}"
)


class ReceiverError(RuntimeError):
    """A receiver did not start or did not answer."""


def wait_listening(port: int, timeout_s: float = 10.0) -> None:
    """Block until 127.0.0.1:port accepts a connection, or raise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ReceiverError(f"nothing is listening on 127.0.0.1:{port} after {timeout_s:.0f} s")


@dataclass
class Nginx:
    """nginx answering 200 on 127.0.0.1:`port`; use as a context manager."""

    workers: int = 1
    port: int = field(default_factory=free_port)
    prefix: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-nginx-")))
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def pid(self) -> int | None:
        """The master process (its worker is its child), for CPU accounting."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise ReceiverError("nginx not found: apt-get install nginx-light")
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=self.workers, prefix=self.prefix, port=self.port))
        # -e keeps nginx from opening the compiled-in /var/log/nginx/error.log before
        # it reads our config, which fails when that directory is not writable.
        self._proc = subprocess.Popen(
            [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            wait_listening(self.port)
        except ReceiverError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass
class SlowReceiver:
    """The delaying receiver in a child process; use as a context manager."""

    delay_ms: float = 100.0
    record: Path | None = None
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> SlowReceiver:
        cmd = [sys.executable, str(Path(__file__).resolve()), "slow", "--port", str(self.port),
               "--delay-ms", str(self.delay_ms)]
        if self.record is not None:
            cmd += ["--record", str(self.record)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise ReceiverError(f"slow receiver did not start: {line!r}")
        return self

    def stop(self) -> None:
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None

    def arrivals(self) -> dict[str, float]:
        """Lead id -> unix time its first request arrived (after stop())."""
        if self.record is None or not self.record.exists():
            return {}
        data: dict[str, float] = json.loads(self.record.read_text())
        return data

    def __enter__(self) -> SlowReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- the delaying server --------------------------------------------------------


class _HttpAfterDelay(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: read a request, answer 200 after a delay.

    Only what webhook clients send is understood: a head, then a body framed by
    Content-Length (or chunked, detected by its terminating chunk).
    """

    def __init__(self, delay_s: float, arrivals: dict[str, float] | None) -> None:
        self.delay_s = delay_s
        self.arrivals = arrivals
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._take_request():
            pass

    def _take_request(self) -> bool:
        """Consume one complete request from the buffer and schedule its answer."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = bytes(self.buffer[:head_end]).lower()
        body_start = head_end + 4
        request_end = _request_end(head, self.buffer, body_start)
        if request_end < 0:
            return False
        if self.arrivals is not None:
            self._note_arrival(head)
        del self.buffer[:request_end]
        loop = asyncio.get_running_loop()
        if self.delay_s > 0:
            loop.call_later(self.delay_s, self._answer)
        else:
            self._answer()
        return True

    def _note_arrival(self, head: bytes) -> None:
        assert self.arrivals is not None
        marker = head.find(b"\r\nx-lead-id:")
        if marker >= 0:
            end = head.find(b"\r\n", marker + 2)
            lead = head[marker + 12: end if end >= 0 else None].strip().decode()
            self.arrivals.setdefault(lead, time.time())

    def _answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(OK_RESPONSE)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _request_end(head: bytes, buffer: bytearray, body_start: int) -> int:
    """Index just past the request's body, or -1 while it is still incomplete."""
    marker = head.find(b"content-length:")
    if marker >= 0:
        end = head.find(b"\r\n", marker)
        length = int(head[marker + 15: end if end >= 0 else None])
        total = body_start + length
        return total if len(buffer) >= total else -1
    if b"transfer-encoding: chunked" in head:
        # Good enough for JSON bodies: the last chunk is a zero-length one.
        found = buffer.find(b"\r\n0\r\n\r\n", body_start - 2)
        return found + 7 if found >= 0 else -1
    return body_start


async def serve_slow(port: int, delay_ms: float, record: Path | None) -> None:
    arrivals: dict[str, float] | None = {} if record is not None else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _HttpAfterDelay(delay_ms / 1000.0, arrivals), "127.0.0.1", port, backlog=4096,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {port}", flush=True)
    await stop.wait()
    server.close()
    if record is not None and arrivals is not None:
        record.write_text(json.dumps(arrivals))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    slow = sub.add_parser("slow", help="serve the delaying receiver until SIGTERM")
    slow.add_argument("--port", type=int, default=8081)
    slow.add_argument("--delay-ms", type=float, default=100.0)
    slow.add_argument("--record", type=Path, help="write lead id -> arrival time here on exit")
    nginx = sub.add_parser("nginx", help="serve nginx until Ctrl-C")
    nginx.add_argument("--workers", type=int, choices=(1, 2), default=1)
    args = parser.parse_args(argv)
    if args.kind == "slow":
        import uvloop

        uvloop.run(serve_slow(args.port, args.delay_ms, args.record))
        return 0
    with Nginx(workers=args.workers) as server:
        print(f"ready {server.url}", flush=True)
        stop_signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
