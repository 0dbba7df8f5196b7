"""A real `webhook-sidecar serve` process on a migrated database, and owners to call it as.

One database and one server per test module (starting the console script costs about
a second); every test makes its own owners, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from sidecar.ops.embedded import LocalCluster, free_port
from tests.pg import admin

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = Path(sys.executable).parent / "webhook-sidecar"
JWT_SECRET = "test-jwt-secret-with-at-least-32-characters"
_numbers = itertools.count(1)


@dataclass
class Server:
    base_url: str
    dsn: str
    process: subprocess.Popen[str]

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=40)


def mint_jwt(sub: uuid.UUID | str, secret: str = JWT_SECRET, **changes: Any) -> str:
    claims: dict[str, Any] = {"sub": str(sub), "role": "authenticated", "aud": "authenticated",
                              "exp": int(time.time()) + 3600, "iat": int(time.time())}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS256")


def start_serve(dsn: str, tmp: Path, **env: str) -> Server:
    port = free_port()
    environ = {**os.environ, "DATABASE_URL": dsn, "WEBHOOK_HTTP_PORT": str(port),
               "SUPABASE_JWT_SECRET": JWT_SECRET, **env}
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_KEY", "SUPABASE_ANON_KEY"):
        if name not in env:
            environ.pop(name, None)
    log = open(tmp / f"serve-{port}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([str(CONSOLE), "serve"], cwd=tmp, env=environ, stdout=log,
                               stderr=subprocess.STDOUT, text=True)
    server = Server(f"http://127.0.0.1:{port}", dsn, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited {process.returncode}: {(tmp / f'serve-{port}.log').read_text()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("serve did not answer /healthz within 30 s")


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


@pytest.fixture(scope="module")
def module_dsn(pg_cluster: LocalCluster, template_db: str) -> Iterator[str]:
    name = f"api_{os.getpid()}_{next(_numbers)}"
    asyncio.run(admin(pg_cluster, f"create database {name} template {template_db}"))
    yield pg_cluster.dsn(name)
    asyncio.run(admin(pg_cluster, f"drop database if exists {name} with (force)"))


@pytest.fixture(scope="module")
def server(module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_serve(module_dsn, tmp_path_factory.mktemp("serve"))
    try:
        yield started
    finally:
        assert stop(started.process) == 0


@pytest.fixture
async def db(module_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(module_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@dataclass
class Owner:
    id: uuid.UUID
    funnel_id: uuid.UUID
    rule_id: uuid.UUID
    jwt: str


async def make_owner(db: asyncpg.Connection, url: str = "https://example.com/hook",
                     client: str = "Acme CRM") -> Owner:
    owner = uuid.uuid4()
    await db.execute("insert into auth.users (id, email) values ($1, $2)", owner, f"{owner}@example.com")
    funnel = await db.fetchval(
        "insert into funnels (owner_id, name, status) values ($1, 'Spring webinar', 'active') returning id", owner)
    rule = await db.fetchval(
        "insert into routing_rules (funnel_id, client_name, webhook_url) values ($1, $2, $3) returning id",
        funnel, client, url)
    return Owner(owner, funnel, rule, mint_jwt(owner))


async def make_key(db: asyncpg.Connection, owner: Owner, scopes: list[str], limit: int = 60) -> str:
    async with db.transaction():
        await db.execute("set local role authenticated")
        await db.execute("select set_config('request.jwt.claims', $1, true)",
                         json.dumps({"sub": str(owner.id), "role": "authenticated"}))
        return await db.fetchval("select create_api_key('test key', $1::text[], null, $2)", scopes, limit)


async def add_logs(db: asyncpg.Connection, owner: Owner, statuses: list[str], step_s: float = 1.0) -> list[uuid.UUID]:
    """Attempt logs of one lead each, oldest first, `step_s` apart and ending now."""
    ids = []
    for n, status in enumerate(statuses):
        lead = await db.fetchval(
            "insert into leads (funnel_id, data) values ($1, $2::jsonb) returning id",
            owner.funnel_id, json.dumps({"name": f"Lead {n}"}))
        ids.append(await db.fetchval(
            "insert into webhook_logs (lead_id, routing_rule_id, webhook_url, status, response_status,"
            " duration_ms, error_type, error_message, request_body, created_at, webhook_id)"
            " values ($1, $2, 'https://example.com/hook', $3::webhook_log_status, $4, $5,"
            " $6::webhook_error_type, $7, $8::jsonb, now() - make_interval(secs => $9), gen_random_uuid())"
            " returning id",
            lead, owner.rule_id, status, 200 if status == "success" else 500, 10 + n,
            None if status == "success" else "http_error",
            None if status == "success" else "HTTP 500: Internal Server Error",
            json.dumps({"type": "lead.created", "data": {"lead": {"name": f"Lead {n}"}}}),
            (len(statuses) - n) * step_s))
    return ids


@pytest.fixture
def worker(server: Server, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A real `webhook-sidecar run` on the server's database, stopped (exit 0) after the test."""
    env = {**os.environ, "DATABASE_URL": server.dsn, "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
           "WEBHOOK_POLL_INTERVAL_MS": "100"}
    process = subprocess.Popen([str(CONSOLE), "run"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        assert stop(process) == 0
