"""The rule page's buttons in a real browser: pause and resume, send test, cancel pending, events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from tests.api.conftest import Server, make_owner
from tests.browser.test_dashboard import eventually, sql


def test_pause_resume_test_and_cancel_from_the_rule_page(browser: Any, server: Server) -> None:
    from selenium.webdriver.common.by import By

    async def seed() -> Any:
        conn = await asyncpg.connect(server.dsn)
        try:
            owner = await make_owner(conn, url="https://example.com/hook", client="Buttons Ltd")
            await conn.execute("insert into leads (funnel_id, data) values ($1, $2::jsonb)",
                               owner.funnel_id, json.dumps({"name": "Held Lead"}))
            return owner
        finally:
            await conn.close()

    owner = asyncio.run(seed())
    rule = owner.rule_id
    find = browser.find_element

    def click(element_id: str) -> None:
        # The live refresh redraws the action bar; a button found just before a redraw is stale.
        eventually(lambda: find(By.ID, element_id).click() or True, what=f"a click on #{element_id}")
    browser.get(f"{server.base_url}/rules/{rule}#token={owner.jwt}")

    eventually(lambda: find(By.ID, "pause-button"), what="the Pause button").click()
    browser.switch_to.alert.accept()
    eventually(lambda: find(By.ID, "resume-button"), what="the Resume button")
    assert "Paused" in find(By.CSS_SELECTOR, "#rule-head .badge").text
    assert "manual" in find(By.ID, "paused-note").text
    assert sql(server.dsn, "select paused_at is not null from webhook_configs where routing_rule_id = $1", rule)[0][0]
    eventually(lambda: "rule.paused" in find(By.ID, "events-card").text, what="the rule.paused event")

    click("test-button")
    eventually(lambda: sql(server.dsn, "select count(*) from webhook_queue where routing_rule_id = $1"
                           " and payload ->> 'type' = 'webhook.test'", rule)[0][0] == 1, what="the test delivery")

    click("cancel-button")
    browser.switch_to.alert.accept()
    eventually(lambda: sql(server.dsn, "select count(*) from webhook_queue where routing_rule_id = $1"
                           " and error_message = 'cancelled'", rule)[0][0] >= 1, what="the cancelled delivery")

    click("resume-button")
    eventually(lambda: find(By.ID, "pause-button"), what="the Pause button again")
    assert "Active" in find(By.CSS_SELECTOR, "#rule-head .badge").text
