"""TLS failures end the attempt as `network`, with the reason, and nothing is delivered."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from aiohttp import web

from sidecar.delivery.attempt import Deliverer
from tests.http.conftest import Receiver, make_job

CA = trustme.CA()


@pytest.fixture
async def untrusted_https() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTPS server on 127.0.0.1 whose certificate comes from a CA only `CA.configure_trust` trusts."""
    seen: list[str] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert("127.0.0.1").configure_cert(context)

    async def ok(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}/hook", seen
    finally:
        await runner.cleanup()


async def test_an_untrusted_certificate_is_a_network_failure_and_nothing_is_delivered(
    deliverer: Deliverer, untrusted_https: tuple[str, list[str]]
) -> None:
    url, seen = untrusted_https
    outcome = await deliverer.attempt(make_job(url))

    assert outcome.error_type == "network"
    assert (outcome.error_message or "").startswith("TLS handshake failed:")
    assert "certificate" in (outcome.error_message or "").lower()
    assert outcome.status is None
    assert seen == []


async def test_https_to_a_plain_http_server_is_a_network_failure(
    deliverer: Deliverer, receiver: Receiver
) -> None:
    url = receiver.base_url.replace("http://", "https://") + "/ok"
    outcome = await deliverer.attempt(make_job(url))

    assert outcome.error_type == "network"
    assert outcome.status is None
    assert receiver.requests == []


async def test_a_certificate_from_an_injected_ca_is_trusted(untrusted_https: tuple[str, list[str]]) -> None:
    url, seen = untrusted_https
    trusting = ssl.create_default_context()
    CA.configure_trust(trusting)
    async with Deliverer(allow_private_targets=True, tls_context=trusting) as deliverer:
        outcome = await deliverer.attempt(make_job(url))
    assert outcome.success and outcome.response_body == "ok"
    assert seen == ["/hook"]
