"""The routes of HTTP API v1 (DESIGN.md, "HTTP API v1"): parse, call one api_* function, shape.

Nothing here decides who may see what: each handler passes the caller to the store,
and the database answers or refuses.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from sidecar.api.auth import Authenticator, Caller
from sidecar.api.errors import bad_parameter
from sidecar.api.params import (
    LOG_STATUSES,
    choice_value,
    decode_cursor,
    encode_cursor,
    int_value,
    number_value,
    time_value,
    uuid_value,
)
from sidecar.api.store import ApiStore

PREFIX = "/api/v1/webhooks"
MAX_WAIT_S = 30.0
WAIT_POLL_S = 0.2
STORE = web.AppKey("store", ApiStore)
AUTH = web.AppKey("auth", Authenticator)
CALLER = web.RequestKey("caller", Caller)


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/rules", rules)
    app.router.add_get(f"{PREFIX}/logs", logs)
    app.router.add_get(f"{PREFIX}/logs/{{log_id}}", log_detail)
    app.router.add_get(f"{PREFIX}/stats", stats)
    app.router.add_post(f"{PREFIX}/replay/{{log_id}}", replay)
    app.router.add_get(f"{PREFIX}/config/{{routing_rule_id}}", config)
    app.router.add_patch(f"{PREFIX}/config/{{routing_rule_id}}", update_config)
    app.router.add_post(f"{PREFIX}/recover", recover)
    app.router.add_post(f"{PREFIX}/test/{{routing_rule_id}}", send_test)
    app.router.add_post(f"{PREFIX}/cancel/{{routing_rule_id}}", cancel)
    app.router.add_get(f"{PREFIX}/events", events)


async def _call(request: web.Request, name: str, **args: Any) -> Any:
    caller = request.get(CALLER) or await request.app[AUTH].caller(request.headers.get("Authorization"))
    request[CALLER] = caller
    return await request.app[STORE].call(caller, name, args)


def _ok(data: Any, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"data": data, **extra}, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# -- reads -----------------------------------------------------------------------------


async def rules(request: web.Request) -> web.Response:
    return _ok(await _call(request, "api_webhook_rules"))


async def logs(request: web.Request) -> web.Response:
    q = request.query
    limit = int_value("limit", q.get("limit"), 50, 1, 1000)
    before_created_at, before_id = decode_cursor(q.get("cursor"))
    rows = await _call(
        request, "api_webhook_log_page",
        routing_rule_id=uuid_value("routing_rule_id", q.get("routing_rule_id"), required=False),
        status=choice_value("status", q.get("status"), LOG_STATUSES),
        since=time_value("since", q.get("since")), until=time_value("until", q.get("until")),
        # One row more than asked says whether another page exists.
        max_rows=min(limit + 1, 1000),
        before_created_at=before_created_at, before_id=before_id)
    page = rows[:limit]
    more = len(rows) > limit or (limit == 1000 and len(rows) == 1000)
    return _ok(page, next_cursor=encode_cursor(page[-1]) if more and page else None)


async def log_detail(request: web.Request) -> web.Response:
    log_id = uuid_value("log_id", request.match_info["log_id"])
    chain = await _call(request, "api_webhook_log_chain", log_id=log_id)
    log = next(row for row in chain if row["id"] == str(log_id))
    return _ok(log, chain=chain)


async def stats(request: web.Request) -> web.Response:
    q = request.query
    rule = uuid_value("routing_rule_id", q.get("routing_rule_id"))
    days = int_value("days", q.get("days"), 7, 1, 36500)
    bucket = choice_value("series", q.get("series"), ("hour", "day"))
    rows = await _call(request, "api_webhook_stats", routing_rule_id=rule, days=days)
    data = rows[0]
    if bucket is not None:
        data = {**data, "series": await _call(request, "api_webhook_stats_series",
                                              routing_rule_id=rule, days=days, bucket=bucket)}
    return _ok(data)


async def config(request: web.Request) -> web.Response:
    rule = uuid_value("routing_rule_id", request.match_info["routing_rule_id"])
    return _ok(await _call(request, "api_webhook_config", routing_rule_id=rule))


async def events(request: web.Request) -> web.Response:
    q = request.query
    rule = uuid_value("routing_rule_id", q.get("routing_rule_id"))
    since = time_value("since", q.get("since"))
    return _ok(await _call(request, "api_webhook_events", routing_rule_id=rule, since=since))


# -- changes ---------------------------------------------------------------------------


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise bad_parameter("body", "must be a JSON object") from None
    except RecursionError:
        raise bad_parameter("body", "nests objects and arrays too deeply") from None
    if not isinstance(body, dict):
        raise bad_parameter("body", "must be a JSON object")
    return body


async def update_config(request: web.Request) -> web.Response:
    rule = uuid_value("routing_rule_id", request.match_info["routing_rule_id"])
    patch = await _json_object(request)
    return _ok(await _call(request, "api_update_webhook_config", routing_rule_id=rule, patch=patch))


async def replay(request: web.Request) -> web.Response:
    log_id = uuid_value("log_id", request.match_info["log_id"])
    wait = number_value("wait", request.query.get("wait"), 0, MAX_WAIT_S)
    delivery = await _call(request, "api_replay_webhook", log_id=log_id)
    if not wait:
        return _ok({"delivery_id": delivery}, status=202)
    attempt = await _first_attempt(request, delivery, wait)
    if attempt is None:
        return _ok({"delivery_id": delivery}, status=202)
    return _ok({"delivery_id": delivery, "log": attempt})


async def _first_attempt(request: web.Request, delivery: str, wait_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + wait_s
    while True:
        rows = await _call(request, "api_webhook_delivery_attempt", delivery_id=delivery)
        if rows:
            return dict(rows[0])
        if time.monotonic() + WAIT_POLL_S > deadline:
            return None
        await asyncio.sleep(WAIT_POLL_S)


async def recover(request: web.Request) -> web.Response:
    body = await _json_object(request)
    rule = uuid_value("routing_rule_id", body.get("routing_rule_id"))
    since = time_value("since", body.get("since"), required=True)
    until = time_value("until", body.get("until"))
    count = await _call(request, "api_recover_webhook_deliveries", routing_rule_id=rule, since=since, until=until)
    return _ok({"requeued": count})


async def send_test(request: web.Request) -> web.Response:
    rule = uuid_value("routing_rule_id", request.match_info["routing_rule_id"])
    delivery = await _call(request, "api_send_test_webhook", routing_rule_id=rule)
    return _ok({"delivery_id": delivery}, status=202)


async def cancel(request: web.Request) -> web.Response:
    rule = uuid_value("routing_rule_id", request.match_info["routing_rule_id"])
    return _ok({"cancelled": await _call(request, "api_cancel_webhook_deliveries", routing_rule_id=rule)})

