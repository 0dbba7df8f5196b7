"""Bad input: each is refused by the database with a clear message, or ends in a logged failure.

Never a stuck queue, never a crashed worker: one sidecar runs through all of it and a
healthy delivery next to the bad ones still goes out.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from standardwebhooks import Webhook

from tests.faults.harness import Sidecar, all_ended, start_sidecar, wait_until
from tests.faults.ledger import check_refused_or_failed
from tests.faults.receiver import ChaosReceiver
from tests.integration.support import Rule, insert_lead, make_rule

pytestmark = pytest.mark.faults

BAD_URLS = [
    "", "http://", "not a url", "http://exa mple.com/hook", "http://[::1", "http://127.0.0.1:99999/hook",
    "ftp://127.0.0.1/hook", "file:///etc/passwd", "javascript:alert(1)", "mailto:ops@example.com",
    "ws://127.0.0.1:9/hook", "//127.0.0.1/hook",
]
PASSWORD = "s3cr3t-pass"
UNUSUAL_LEADS: dict[str, Any] = {
    "nearly one mebibyte": {"blob": "x" * ((1 << 20) - 64)},  # the most a lead may hold
    "right-to-left": {"name": "مرحبا \u202eevil\u202c שלום", "dir": "\u200f\u200e"},
    "emoji": {"e": "👩\u200d👩\u200d👧\u200d👦🏳️\u200d🌈", "🔑": "🗝️"},
    "invisible": {"z": "e\u0301\u200b\ufeff\uffff\U0010ffff", "sep": "\u2028\u2029"},
    "escapes": {"q": 'a " b \\ c \t d  \n e', "k e y": " spaced  ", "ctl": "\u0001\u001f\u007f"},
}
# jsonb cannot hold these: the database refuses the lead itself.
REFUSED_LEADS = {
    "NUL escape": '{"n": "a\\u0000b"}',
    "lone high surrogate": '{"s": "\\ud800"}',
    "lone low surrogate": '{"s": "\\udc00"}',
}


async def _run_to_the_end(dsn: str, workdir: Path, db: asyncpg.Connection) -> Sidecar:
    sidecar = await start_sidecar(dsn, workdir, "bad-input")
    await wait_until(lambda: _ended_alive(db, sidecar), 60, "every delivery of bad input to end")
    assert await sidecar.terminate() == 0, sidecar.tail()
    output = sidecar.text()
    assert "Traceback" not in output and "inside the sidecar" not in output, sidecar.tail(60)
    return sidecar


async def _ended_alive(db: asyncpg.Connection, sidecar: Sidecar) -> bool:
    assert sidecar.alive, f"the worker died on bad input:\n{sidecar.tail()}"
    return await all_ended(db)


async def _outcomes(db: asyncpg.Connection, rule: Rule) -> list[asyncpg.Record]:
    return await db.fetch(
        "select q.status::text as queue_status, l.status::text, l.error_type::text, l.error_message,"
        " l.webhook_url, l.request_headers::text as request_headers"
        " from webhook_queue q left join webhook_logs l on l.queue_id = q.id"
        " where q.routing_rule_id = $1 order by l.attempt_number", rule.id)


async def test_malformed_and_non_http_urls_end_failed_with_a_logged_reason(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path
) -> None:
    with ChaosReceiver() as receiver:
        bad = {url: await make_rule(db, url, max_retries=1, retry_delay_ms=100) for url in BAD_URLS}
        with_password = await make_rule(db, receiver.url("/creds").replace("://", f"://hooks:{PASSWORD}@"))
        healthy = await make_rule(db, receiver.url("/healthy"))
        for rule in [*bad.values(), with_password, healthy]:
            await insert_lead(db, rule.funnel_id)

        sidecar = await _run_to_the_end(fault_dsn, tmp_path, db)
        hits = receiver.hits()
        await check_refused_or_failed(db, hits, "bad input: malformed, non-http and credentialed URLs")

    for url, rule in bad.items():
        rows = await _outcomes(db, rule)
        assert rows and rows[-1]["queue_status"] == "failed", (url, rows)
        assert all(r["status"] in ("retrying", "failed") and r["error_type"] and r["error_message"] for r in rows), (url, rows)
    assert [h.path for h in hits if h.path == "/healthy"] == ["/healthy"]
    credentials = await _outcomes(db, with_password)
    assert credentials[-1]["queue_status"] == "completed"
    for row in credentials:
        assert PASSWORD not in row["webhook_url"] + row["request_headers"], "a URL's password was stored in the log"
        assert json.loads(row["request_headers"])["Authorization"] == "***"  # sent as Basic auth, masked
    assert [h.headers.get("authorization", "").startswith("Basic ") for h in hits if h.path == "/creds"] == [True]
    assert PASSWORD not in sidecar.text()


async def test_extreme_configs_and_unusual_leads_are_refused_or_delivered_intact(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path
) -> None:
    with ChaosReceiver() as receiver:
        rule = await make_rule(db, receiver.url("/lead"), custom_headers=_many_headers(50, 300))
        secret = await db.fetchval("select signing_secret from webhook_configs where routing_rule_id = $1", rule.id)
        with pytest.raises(asyncpg.CheckViolationError, match="at most 50 custom headers"):
            await db.execute("update webhook_configs set custom_headers = $2::jsonb where routing_rule_id = $1",
                             rule.id, json.dumps(_many_headers(10_000, 10)))
        with pytest.raises(asyncpg.CheckViolationError, match="at most 16384"):
            await db.execute("update webhook_configs set custom_headers = $2::jsonb where routing_rule_id = $1",
                             rule.id, json.dumps(_many_headers(50, 8000)))
        for lead in REFUSED_LEADS.values():
            with pytest.raises(asyncpg.DataError, match="Unicode|surrogate"):
                await db.execute("insert into leads (funnel_id, data) values ($1, $2::jsonb)", rule.funnel_id, lead)
        leads = {await insert_lead(db, rule.funnel_id, data): name for name, data in UNUSUAL_LEADS.items()}

        await _run_to_the_end(fault_dsn, tmp_path, db)
        hits = receiver.hits()
        await check_refused_or_failed(db, hits, "bad input: 50 headers (16 KB), a 1 MiB lead, unusual Unicode")

    assert await db.fetchval("select count(*) from leads") == len(UNUSUAL_LEADS)
    assert len(hits) == len(UNUSUAL_LEADS)
    for hit in hits:
        Webhook(secret).verify(hit.body, hit.headers)  # byte-identical to what was signed
        sent = json.loads(hit.body)["data"]
        assert sent["lead"] == UNUSUAL_LEADS[leads[_uuid(sent["lead_id"])]], leads[_uuid(sent["lead_id"])]
        assert hit.headers["x-custom-49"] == "v" * 300
    assert set(await db.fetch("select distinct status::text from webhook_queue")) == {("completed",)}


def _many_headers(count: int, length: int) -> dict[str, str]:
    return {f"X-Custom-{n}": "v" * length for n in range(count)}


def _uuid(text: str) -> uuid.UUID:
    return uuid.UUID(text)
