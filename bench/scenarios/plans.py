"""Plans of the statements a SQL function runs, as the server executed them.

EXPLAIN on `select claim_webhook_jobs(…)` shows only a function scan; auto_explain
with nested statements logged at NOTICE level shows the plans of the statements
inside, sent to this client instead of the server log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg

AUTO_EXPLAIN_SETTINGS = (
    "load 'auto_explain'",
    "set auto_explain.log_min_duration = 0",
    "set auto_explain.log_nested_statements = on",
    "set auto_explain.log_analyze = on",
    "set auto_explain.log_buffers = on",
    "set auto_explain.log_timing = on",
    "set auto_explain.log_format = json",
    "set auto_explain.log_level = notice",
    "set auto_explain.log_triggers = on",
)
AUTO_EXPLAIN_OFF = "set auto_explain.log_min_duration = -1"


async def nested_plans(conn: asyncpg.Connection, sql: str, *args: object) -> list[dict[str, Any]]:
    """Run `sql` once and return the JSON plan of every statement it executed."""
    captured: list[str] = []

    def on_message(_conn: object, message: asyncpg.PostgresLogMessage) -> None:
        captured.append(str(message.message))

    for setting in AUTO_EXPLAIN_SETTINGS:
        await conn.execute(setting)
    conn.add_log_listener(on_message)
    try:
        await conn.fetch(sql, *args)
    finally:
        conn.remove_log_listener(on_message)
        await conn.execute(AUTO_EXPLAIN_OFF)
    return [json.loads(text[text.index("{"):]) for text in captured if "{" in text]


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan tree, depth first."""
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


def summarise(plan: dict[str, Any]) -> str:
    """One line per plan node: type, relation or index, rows and time, indented by depth."""
    lines: list[str] = []

    def visit(node: dict[str, Any], depth: int) -> None:
        target = node.get("Index Name") or node.get("Relation Name") or ""
        where = f" on {target}" if target else ""
        rows = node.get("Actual Rows", "?")
        ms = node.get("Actual Total Time", "?")
        lines.append(f"{'  ' * depth}{node['Node Type']}{where} (rows={rows}, ms={ms})")
        for child in node.get("Plans", []):
            visit(child, depth + 1)

    visit(plan["Plan"], 0)
    for trigger in plan.get("Triggers", []):
        lines.append(f"trigger {trigger.get('Constraint Name') or trigger['Trigger Name']}: "
                     f"{trigger['Calls']} calls, {trigger['Time']} ms")
    return "\n".join(lines)


def query_text(plan: dict[str, Any]) -> str:
    return " ".join(str(plan.get("Query Text", "")).split())
