"""What the API needs from the database: call one api_* function as the caller.

`ApiStore.call(caller, name, args)` runs `public.<name>(...)` with the caller's role
and credentials and returns its rows (a list of dicts) or its single value. Two
transports implement it: `DirectApiStore` (asyncpg, a transaction per call with
PostgREST's role and settings) and `PostgrestApiStore` (the caller's token forwarded
to PostgREST). Both turn refusals into `ApiError` with PostgREST's statuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sidecar.api.auth import Caller
from sidecar.api.errors import ApiError


@dataclass(frozen=True, slots=True)
class Rpc:
    params: tuple[str, ...]
    returns: Literal["rows", "value"]


# The api_* functions of supabase/migrations/2026120212*_http_api*.sql, their
# parameters in order (sidecar/api/queries.sql uses the same order).
RPCS: dict[str, Rpc] = {
    "api_webhook_rules": Rpc((), "rows"),
    "api_webhook_log_page": Rpc(("routing_rule_id", "status", "since", "until", "max_rows",
                                 "before_created_at", "before_id"), "rows"),
    "api_webhook_log_chain": Rpc(("log_id",), "rows"),
    "api_webhook_delivery_attempt": Rpc(("delivery_id",), "rows"),
    "api_webhook_stats": Rpc(("routing_rule_id", "days"), "rows"),
    "api_webhook_stats_series": Rpc(("routing_rule_id", "days", "bucket"), "rows"),
    "api_replay_webhook": Rpc(("log_id",), "value"),
    "api_webhook_config": Rpc(("routing_rule_id",), "value"),
    "api_update_webhook_config": Rpc(("routing_rule_id", "patch"), "value"),
    "api_recover_webhook_deliveries": Rpc(("routing_rule_id", "since", "until"), "value"),
    "api_cancel_webhook_deliveries": Rpc(("routing_rule_id",), "value"),
    "api_send_test_webhook": Rpc(("routing_rule_id",), "value"),
    "api_webhook_events": Rpc(("routing_rule_id", "since"), "value"),
}


class ApiStore(Protocol):
    transport: str

    async def call(self, caller: Caller, name: str, args: Mapping[str, Any]) -> Any: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# -- refusals, the same for both transports ------------------------------------------

_CONFIG_FIELD = re.compile(r'invalid webhook config: (?:unknown key ")?([a-z_]+)')
MISSING = ("this server's database lacks a function or table it needs: apply the migrations "
           "(webhook-sidecar db migrate, or supabase db push)")


def config_field(message: str) -> str | None:
    """The config key a refusal is about: update_webhook_config's messages name it first."""
    match = _CONFIG_FIELD.search(message)
    return match.group(1) if match else None


def pgrst_error(message: str, detail: str | None) -> ApiError:
    """An api_http_error() raise: message and detail are JSON (status, headers)."""
    try:
        text = str(json.loads(message).get("message") or message)
    except (ValueError, AttributeError):
        text = message
    try:
        extra = json.loads(detail or "{}")
        status = int(extra.get("status", 400))
        headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
    except (ValueError, AttributeError, TypeError):
        status, headers = 400, {}
    return ApiError(status, text, headers=headers)


def sqlstate_status(sqlstate: str) -> int:
    """PostgREST's mapping of SQLSTATEs to HTTP statuses, for the ones these functions raise."""
    if sqlstate == "P0002":
        return 404
    if sqlstate == "42501":
        return 403
    if sqlstate in ("42883", "42P01", "42703"):
        return 501
    if sqlstate.startswith(("22", "23")) or sqlstate == "P0001":
        return 400
    return 500


def refusal(status: int, message: str) -> ApiError:
    if status == 501:
        return ApiError(501, MISSING)
    if status >= 500:
        return ApiError(500, "the database could not complete the call; see the server's log")
    return ApiError(status, message, field=config_field(message) if status == 400 else None)
