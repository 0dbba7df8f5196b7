"""Email and password sign-in on the dashboard, against a stand-in for Supabase Auth on 127.0.0.1.

The stand-in answers `POST /auth/v1/token?grant_type=password` as GoTrue does (with
CORS, since the page is on another origin) and records the request, so the test sees
exactly what the browser sent: the path, the apikey header and the JSON body.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.api.conftest import Server, make_owner, mint_jwt, start_serve, stop
from tests.browser.test_dashboard import eventually, sql

ANON = "anon-key-for-the-dashboard"
PASSWORD = "correct horse battery staple"


class FakeAuth(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    tokens: dict[str, str] = {}  # email -> access token

    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "apikey, content-type, authorization")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"path": self.path, "apikey": self.headers.get("apikey"), "body": body})
        token = self.tokens.get(body.get("email", "")) if body.get("password") == PASSWORD else None
        answer = ({"access_token": token, "token_type": "bearer", "expires_in": 3600} if token
                  else {"error": "invalid_grant", "error_description": "Invalid login credentials"})
        data = json.dumps(answer).encode()
        self.send_response(200 if token else 400)
        self._cors()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def auth_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeAuth)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture
def auth_server(module_dsn: str, auth_url: str, tmp_path: Path) -> Iterator[Server]:
    started = start_serve(module_dsn, tmp_path, SUPABASE_URL=auth_url, SUPABASE_ANON_KEY=ANON)
    try:
        yield started
    finally:
        assert stop(started.process) == 0


def test_email_sign_in_through_supabase_auth(browser: Any, auth_server: Server, auth_url: str) -> None:
    from selenium.webdriver.common.by import By

    async def owner() -> Any:
        conn = await asyncpg.connect(auth_server.dsn)
        try:
            return await make_owner(conn, client="Email Co")
        finally:
            await conn.close()

    person = asyncio.run(owner())
    email = f"{person.id}@example.com"
    FakeAuth.tokens[email] = mint_jwt(person.id)
    browser.get(auth_server.base_url + "/")
    find = browser.find_element
    eventually(lambda: find(By.ID, "email-form"), what="the email form")
    find(By.ID, "email").send_keys(email)
    find(By.ID, "password").send_keys("wrong password")
    find(By.CSS_SELECTOR, "#email-form button[type=submit]").click()
    eventually(lambda: "Invalid login credentials" in find(By.ID, "notice").text, what="the refusal")
    find(By.ID, "password").clear()
    find(By.ID, "password").send_keys(PASSWORD)
    find(By.CSS_SELECTOR, "#email-form button[type=submit]").click()
    row = eventually(lambda: find(By.CSS_SELECTOR, f'.rule-row[data-rule="{person.rule_id}"]'), what="the rules")
    assert "Email Co" in row.text
    assert browser.execute_script("return sessionStorage.getItem('webhooks.token')") == FakeAuth.tokens[email]
    last = FakeAuth.requests[-1]
    assert last == {"path": "/auth/v1/token?grant_type=password", "apikey": ANON,
                    "body": {"email": email, "password": PASSWORD}}
    assert sql(auth_server.dsn, "select count(*) from routing_rules where id = $1", person.rule_id)[0][0] == 1
