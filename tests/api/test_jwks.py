"""Asymmetric access tokens: keys from a JWKS served on 127.0.0.1, by a real `serve` process."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.api.conftest import Server, make_owner, start_serve, stop

P = "/api/v1/webhooks"


class Keys:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = ec.generate_private_key(ec.SECP256R1())

    @classmethod
    def jwks(cls) -> dict[str, Any]:
        def public(key: Any, kid: str, alg: str) -> dict[str, Any]:
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            return {**jwk, "kid": kid, "alg": alg, "use": "sig"}
        return {"keys": [public(cls.ec_key, "ec-1", "ES256"), public(cls.rsa_key, "rsa-1", "RS256")]}


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    body = json.dumps(Keys.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def jwks_server(module_dsn: str, jwks_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_serve(module_dsn, tmp_path_factory.mktemp("serve-jwks"), SUPABASE_JWKS_URL=jwks_url,
                          SUPABASE_JWT_SECRET="")
    try:
        yield started
    finally:
        assert stop(started.process) == 0


def token(key: Any, alg: str, kid: str, sub: uuid.UUID, **changes: Any) -> str:
    claims = {"sub": str(sub), "aud": "authenticated", "role": "authenticated", "exp": int(time.time()) + 600}
    claims.update(changes)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.mark.parametrize(("alg", "kid"), [("ES256", "ec-1"), ("RS256", "rsa-1")])
async def test_a_token_signed_by_a_jwks_key_is_accepted(jwks_server: Server, db: asyncpg.Connection,
                                                        alg: str, kid: str) -> None:
    owner = await make_owner(db)
    key = Keys.ec_key if alg == "ES256" else Keys.rsa_key
    async with jwks_server.client(token(key, alg, kid, owner.id)) as client:
        answer = await client.get(f"{P}/rules")
    assert answer.status_code == 200, answer.text
    assert [r["routing_rule_id"] for r in answer.json()["data"]] == [str(owner.rule_id)]


async def test_a_token_of_another_key_an_expired_one_and_hs256_without_a_secret_are_401(
    jwks_server: Server, db: asyncpg.Connection
) -> None:
    owner = await make_owner(db)
    refused = [token(Keys.stranger, "ES256", "ec-1", owner.id),
               token(Keys.ec_key, "ES256", "ec-1", owner.id, exp=int(time.time()) - 10),
               token(Keys.ec_key, "ES256", "unknown-kid", owner.id),
               token(Keys.ec_key, "ES256", "ec-1", owner.id, aud="somebody-else"),
               owner.jwt]
    for bad in refused:
        async with jwks_server.client(bad) as client:
            answer = await client.get(f"{P}/rules")
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "SUPABASE_JWT_SECRET" in answer.json()["error"]["message"]


def test_jwks_url_defaults_to_the_supabase_auth_path(tmp_path: Path) -> None:
    from sidecar.settings import load_settings

    settings = load_settings({"SUPABASE_URL": "https://abc.supabase.co/", "SUPABASE_SERVICE_KEY": "k"},
                             env_file=tmp_path / "none")
    assert settings.supabase_jwks_url == "https://abc.supabase.co/auth/v1/.well-known/jwks.json"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8787)
