"""The dashboard in a real browser: sign in by link, filter, detail, replay, config, stats, live updates.

Real parts throughout: `webhook-sidecar serve` and `webhook-sidecar run` processes on a
migrated database, a receiver on 127.0.0.1 that fails its first request, and Debian's
headless Chromium. The screenshot README shows (docs/dashboard.png) is taken here.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.api.conftest import Owner, Server, make_owner

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
LEADS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov"]


class Flaky(BaseHTTPRequestHandler):
    """200 for every request but the first of each lead named in `fail_once`, which gets a 500."""

    failed: set[str] = set()
    fail_once = {"Grace Hopper", "Edsger Dijkstra"}

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = body.get("data", {}).get("lead", {}).get("name", "")
        first = name in self.fail_once and name not in self.failed
        self.failed.add(name)
        status, text = (500, b"database hiccup, try again") if first else (200, b'{"received": true}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/leads"
    finally:
        httpd.shutdown()


def sql(dsn: str, query: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()
    return asyncio.run(run())


# A week of earlier attempts, so the chart and the stats look like a rule in use.
HISTORY_SQL = """
insert into webhook_logs (lead_id, routing_rule_id, webhook_url, status, response_status, duration_ms,
                          error_type, error_message, request_body, created_at, attempt_number, max_attempts)
select $1, $2, $3, case when h % 11 = 3 then 'failed' else 'success' end::webhook_log_status,
       case when h % 11 = 3 then 503 else 200 end, 20 + (h * 37) % 180,
       case when h % 11 = 3 then 'http_error'::webhook_error_type end,
       case when h % 11 = 3 then 'HTTP 503: Service Unavailable' end,
       '{"type": "lead.created"}', now() - interval '7 days' + h * interval '1 hour' + n * interval '7 minutes', 1, 4
from generate_series(1, 160) h, generate_series(0, (h * 7) % 5) n
"""


def seed(dsn: str, url: str) -> Owner:
    async def run() -> Owner:
        conn = await asyncpg.connect(dsn)
        try:
            owner = await make_owner(conn, url=url, client="Acme CRM")
            await conn.execute("select update_webhook_config($1, $2::jsonb)", owner.rule_id, json.dumps(
                {"retry_delay_ms": 200, "custom_headers": {"Authorization": "Bearer demo-token"}}))
            old = await conn.fetchval("insert into leads (funnel_id, data) values ($1, '{}') returning id", owner.funnel_id)
            await conn.execute("update webhook_queue set status = 'completed', completed_at = now() where lead_id = $1", old)
            await conn.execute(HISTORY_SQL, old, owner.rule_id, url)
            await conn.execute("insert into leads (funnel_id, data) select $1, jsonb_build_object('name', n,"
                               " 'email', lower(split_part(n, ' ', 1)) || '@example.com') from unnest($2::text[]) n",
                               owner.funnel_id, LEADS)
            return owner
        finally:
            await conn.close()
    return asyncio.run(run())


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception:  # noqa: BLE001 - the page is still changing; look again
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_dashboard_end_to_end(browser: Any, server: Server, receiver: str, worker: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    owner = seed(server.dsn, receiver)
    rule = owner.rule_id
    eventually(lambda: sql(server.dsn, "select count(*) = 0 as done from webhook_queue where routing_rule_id = $1"
                           " and status in ('pending', 'processing')", rule)[0]["done"], 30, "deliveries")
    find = browser.find_element
    find_all = browser.find_elements

    # Sign in with a link; the token leaves the address bar and stays in sessionStorage.
    browser.get(f"{server.base_url}/rules/{rule}#token={owner.jwt}")
    eventually(lambda: len(find_all(By.CSS_SELECTOR, ".log-row")) == 25, what="a page of attempts")
    newest = sql(server.dsn, "select id from webhook_logs where routing_rule_id = $1"
                 " order by created_at desc, id desc limit 25", rule)
    assert [r.get_attribute("data-log") for r in find_all(By.CSS_SELECTOR, ".log-row")] == [str(r["id"]) for r in newest]
    assert "#token" not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('webhooks.token')") == owner.jwt
    assert find(By.CSS_SELECTOR, "#rule-head h1").text == "Acme CRM"

    # Filter by status: exactly the failed attempts of SQL.
    Select(find(By.ID, "status-filter")).select_by_value("retrying")
    failed_ids = {str(r["id"]) for r in sql(server.dsn, "select id from webhook_logs where routing_rule_id = $1"
                                             " and status = 'retrying'", rule)}
    eventually(lambda: {r.get_attribute("data-log") for r in find_all(By.CSS_SELECTOR, ".log-row")} == failed_ids,
               what="only the retried attempts")
    row = find(By.CSS_SELECTOR, ".log-row")
    assert "Retrying" in row.text and "↻" in row.text and "500" in row.text and "HTTP 500: Internal Server Error" in row.text

    # The detail: request, response, error and the retry chain.
    replayed = row.get_attribute("data-log")
    # The list re-renders when new attempts land: click the row as it is then, not as it was.
    eventually(lambda: find(By.CSS_SELECTOR, f'.log-row[data-log="{replayed}"]').click() or True,
               what="a click on the retried attempt")
    eventually(lambda: find(By.ID, "detail").is_displayed() and find(By.ID, "chain").text, what="the detail")
    detail = find(By.ID, "detail").text
    assert "database hiccup" in detail and "\"Authorization\": \"***\"" in detail
    assert "Grace Hopper" in detail or "Edsger Dijkstra" in detail
    assert len(find_all(By.CSS_SELECTOR, "#chain .chain-item")) == 2

    Select(find(By.ID, "status-filter")).select_by_value("")
    # Replay: the new attempt appears under the replayed log once the worker has sent it.
    find(By.ID, "replay-button").click()
    attempt = eventually(lambda: find(By.CSS_SELECTOR, "#replay-result .replay-attempt .badge-success"), 15,
                         "the replay's attempt")
    assert attempt.text.split() == ["✓", "Success"]
    new_log = sql(server.dsn, "select id from webhook_logs where parent_log_id = $1 and attempt_number = 1", replayed)
    assert len(new_log) == 1
    eventually(lambda: find_all(By.CSS_SELECTOR, f'.log-row[data-log="{new_log[0]["id"]}"]'), 4,
               "the replay in the table without a reload")

    # Stats as SQL has them.
    expected = sql(server.dsn, "select * from get_webhook_stats($1, 7)", rule)[0]
    eventually(lambda: find(By.ID, "stat-total").text == str(expected["total_calls"]), 4, "stats")
    assert find(By.ID, "stat-failed").text == str(expected["failed_calls"])
    assert find(By.ID, "stat-rate").text == f"{expected['success_rate']:.2f} %"
    assert len(find_all(By.CSS_SELECTOR, "#stats-chart .bar")) == 24 * 7
    find(By.ID, "older-page").click()  # paging: the next 25, strictly older
    eventually(lambda: find_all(By.CSS_SELECTOR, ".log-row")[0].get_attribute("data-log") == str(sql(
        server.dsn, "select id from webhook_logs where routing_rule_id = $1 order by created_at desc, id desc"
        " offset 25 limit 1", rule)[0]["id"]), what="the second page")
    find(By.ID, "newer-page").click()
    eventually(lambda: find_all(By.CSS_SELECTOR, f'.log-row[data-log="{new_log[0]["id"]}"]'), what="page one again")
    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    # A new lead shows up live, without a reload.
    sql(server.dsn, "insert into leads (funnel_id, data) values ($1, '{\"name\": \"Live Lead\"}')", owner.funnel_id)
    live = eventually(lambda: sql(server.dsn, "select l.id from webhook_logs l join leads d on d.id = l.lead_id"
                                  " where d.data ->> 'name' = 'Live Lead'"), 10, "the live lead's delivery")
    eventually(lambda: find_all(By.CSS_SELECTOR, f'.log-row[data-log="{live[0]["id"]}"]'), 3,
               "the live lead's attempt on the page without a reload")

    # Config: a good change is saved; a refused value is shown beside its field.
    field = find(By.NAME, "max_retries")
    browser.execute_script("arguments[0].scrollIntoView()", field)
    field.clear()
    field.send_keys("5")
    find(By.ID, "save-config").click()
    eventually(lambda: "Saved" in find(By.ID, "config-status").text, what="saved")
    assert sql(server.dsn, "select max_retries from webhook_configs where routing_rule_id = $1", rule)[0][0] == 5
    field = find(By.NAME, "max_retries")
    field.clear()
    field.send_keys("99")
    find(By.ID, "save-config").click()
    error = eventually(lambda: find(By.CSS_SELECTOR, '[data-error-for="max_retries"]'), what="the refusal")
    eventually(lambda: error.is_displayed(), what="the refusal shown")
    assert "max_retries must be between 0 and 20" in error.text
    assert sql(server.dsn, "select max_retries from webhook_configs where routing_rule_id = $1", rule)[0][0] == 5

    # The rules list: the rule, its status in words, colour and symbol, its queue.
    browser.execute_script("window.scrollTo(0, 0)")  # the sticky top bar covers the breadcrumb otherwise
    find(By.CSS_SELECTOR, ".crumbs a").click()
    rule_row = eventually(lambda: find(By.CSS_SELECTOR, f'.rule-row[data-rule="{rule}"]'), what="the rules list")
    assert "Spring webinar" in rule_row.text and "Acme CRM" in rule_row.text and "Active" in rule_row.text
    assert rule_row.find_element(By.CSS_SELECTOR, ".badge-active .badge-symbol").text == "●"
    assert len(find_all(By.CSS_SELECTOR, ".rule-row")) == 1
    rule_row.click()
    eventually(lambda: find_all(By.CSS_SELECTOR, ".log-row"), what="back on the rule page")

    # French labels through the switch.
    find(By.CSS_SELECTOR, '[data-lang="fr"]').click()
    eventually(lambda: "Rejouer" in find(By.ID, "replay-button").text if find_all(By.ID, "replay-button")
               else find(By.CSS_SELECTOR, "#logs-card h2").text.startswith("Journal"), what="French labels")
