"""Run inside a network namespace that has only loopback: refused spellings, then a control.

Prints one JSON object: each host's (error_type, error_message), the connections the
receiver accepted before the control, and whether the allowed control reached it.
`tests/http/test_egress_netns.py` starts this under `unshare --net`.
"""

from __future__ import annotations

import asyncio
import json

from sidecar.delivery.attempt import Deliverer
from tests.http.conftest import make_job

HOSTS = [
    "127.0.0.1", "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0x7f.1", "127.0.0.1.",
    "[::127.0.0.1]", "[::ffff:127.0.0.1]", "[::ffff:0:127.0.0.1]", "[64:ff9b::7f00:1]",
    "[64:ff9b:1::7f00:1]", "[2002:7f00:1::1]", "[::1]", "[fe80::1%25lo]", "localhost", "1.2.3.4.5",
]


async def main() -> None:
    connections = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    outcomes = {}
    async with Deliverer(allow_private_targets=False) as guarded:
        for host in HOSTS:
            outcome = await guarded.attempt(make_job(f"http://{host}:{port}/hook"))
            outcomes[host] = (outcome.error_type, outcome.error_message)
    before_control = connections
    async with Deliverer(allow_private_targets=True) as allowed:
        control = await allowed.attempt(make_job(f"http://127.0.0.1:{port}/hook"))
    server.close()
    print(json.dumps({"outcomes": outcomes, "connections": before_control, "control": control.success}))


if __name__ == "__main__":
    asyncio.run(main())
