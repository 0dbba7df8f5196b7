"""Run a command in a network namespace with a DNS server that never answers, and two receivers.

Started as `unshare --net --mount python netns.py WORKDIR -- COMMAND...` (as root). Inside
the new namespaces it brings loopback up, bind-mounts over /etc/resolv.conf a file naming
a UDP "resolver" on 127.0.0.1:53 that reads every query and never answers, and over
/etc/hosts a file naming the receivers' hosts, then serves:

    http://good.test:8081/   answers 200 at once
    http://hang.test:8082/   accepts the connection and never answers

and runs COMMAND, passing SIGTERM on and exiting with its code. Every other name is
looked up over DNS and hangs until the caller gives up. The database is reached through
its Unix socket, which crosses network namespaces. Arrivals at the good receiver are
appended to WORKDIR/good-arrivals.txt as "<unix time> <webhook-id>".
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from aiohttp import web

GOOD_PORT = 8081
HANG_PORT = 8082
HOSTS = "127.0.0.1 localhost good.test hang.test\n::1 localhost\n"
RESOLV = "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n"
PR_SET_PDEATHSIG = 1


def prepare_namespace(workdir: Path) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for name, text in (("resolv.conf", RESOLV), ("hosts", HOSTS)):
        own = workdir / name
        own.write_text(text)
        subprocess.run(["mount", "--bind", str(own), f"/etc/{name}"], check=True)


def silent_resolver() -> None:
    """Read DNS queries on 127.0.0.1:53 forever; answer none."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 53))
    while True:
        sock.recvfrom(4096)


async def serve_receivers(arrivals: Path) -> None:
    sink = arrivals.open("a", buffering=1)

    async def good(request: web.Request) -> web.Response:
        await request.read()
        sink.write(f"{time.time():.6f} {request.headers.get('webhook-id', '')}\n")
        return web.Response(text="ok")

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()  # hold the connection open, never answer

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", good)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", GOOD_PORT).start()
    await asyncio.start_server(hang, "127.0.0.1", HANG_PORT, backlog=1024)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


async def main(workdir: Path, command: list[str]) -> int:
    prepare_namespace(workdir)
    threading.Thread(target=silent_resolver, daemon=True).start()
    await serve_receivers(workdir / "good-arrivals.txt")
    child = await asyncio.create_subprocess_exec(*command, preexec_fn=_die_with_parent)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, child.send_signal, sig)
    return await child.wait()


if __name__ == "__main__":
    split = sys.argv.index("--")
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[split + 1:])))
