"""The OpenAPI 3 document of API v1, served at /api/v1/openapi.json.

Written out rather than derived from the router, so that tests/api/test_openapi.py
comparing the two catches a route added or renamed on one side only.
"""

from __future__ import annotations

from typing import Any

P = "/api/v1/webhooks"
UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}

LOG_STATUS = {"type": "string", "enum": ["pending", "success", "failed", "retrying"]}
LOG = {"type": "object", "properties": {
    "id": UUID, "lead_id": UUID, "routing_rule_id": UUID, "webhook_url": {"type": "string"},
    "request_headers": {"type": "object"}, "request_body": {"type": "object", "nullable": True},
    "response_status": {"type": "integer", "nullable": True},
    "response_headers": {"type": "object", "nullable": True},
    "response_body": {"type": "string", "nullable": True},
    "duration_ms": {"type": "integer", "nullable": True}, "attempt_number": {"type": "integer"},
    "max_attempts": {"type": "integer"}, "is_retry": {"type": "boolean"},
    "parent_log_id": {**UUID, "nullable": True},
    "status": LOG_STATUS,
    "error_message": {"type": "string", "nullable": True},
    "error_type": {"type": "string", "nullable": True,
                   "enum": ["timeout", "network", "http_error", "invalid_response", "blocked", None]},
    "created_at": TIME, "queue_id": {**UUID, "nullable": True}, "webhook_id": {**UUID, "nullable": True},
}}
RULE = {"type": "object", "properties": {
    "routing_rule_id": UUID, "funnel_id": UUID, "funnel_name": {"type": "string"},
    "funnel_status": {"type": "string"}, "client_name": {"type": "string"}, "webhook_url": {"type": "string"},
    "is_active": {"type": "boolean"}, "paused_at": NULLABLE_TIME,
    "paused_reason": {"type": "string", "nullable": True}, "created_at": TIME,
    "pending_deliveries": {"type": "integer"},
    "held_deliveries": {"type": "integer", "description": "pending because the rule or its funnel is paused or inactive"},
}}
STATS = {"type": "object", "properties": {
    "total_calls": {"type": "integer"}, "success_calls": {"type": "integer"},
    "failed_calls": {"type": "integer"}, "avg_duration_ms": {"type": "number"},
    "success_rate": {"type": "number", "description": "percentage, 2 decimals"},
    "series": {"type": "array", "description": "only with ?series=hour|day; from webhook_stats_hourly",
               "items": {"type": "object", "properties": {
                   "bucket_start": TIME, "total_calls": {"type": "integer"}, "success_calls": {"type": "integer"},
                   "failed_calls": {"type": "integer"}, "avg_duration_ms": {"type": "number"}}}},
}}
CONFIG = {"type": "object", "description": "effective values; signing_secret masked except right after a change",
          "properties": {
              "routing_rule_id": UUID, "custom_headers": {"type": "object"}, "timeout_ms": {"type": "integer"},
              "retry_enabled": {"type": "boolean"}, "max_retries": {"type": "integer"},
              "retry_delay_ms": {"type": "integer"}, "retry_backoff_multiplier": {"type": "number"},
              "signing_secret": {"type": "string", "nullable": True},
              "auto_pause_after_failures": {"type": "integer", "nullable": True},
              "max_requests_per_second": {"type": "number", "nullable": True},
              "secret_overlap_hours": {"type": "integer"}, "paused_at": NULLABLE_TIME,
              "paused_reason": {"type": "string", "nullable": True}}}
EVENT = {"type": "object", "properties": {
    "id": UUID, "routing_rule_id": UUID, "funnel_id": UUID,
    "type": {"type": "string", "enum": ["rule.paused", "rule.resumed", "delivery.failed"]},
    "detail": {"type": "object"}, "created_at": TIME}}
DELIVERY = {"type": "object", "properties": {"delivery_id": UUID, "log": LOG}}
ERROR = {"type": "object", "properties": {"error": {"type": "object", "required": ["status", "message"], "properties": {
    "status": {"type": "integer"}, "message": {"type": "string"},
    "parameter": {"type": "string", "description": "the bad query, path or body parameter"},
    "field": {"type": "string", "description": "the config key the database refused"}}}}}


def _data(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"data": schema, **extra}}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


MEANING = {400: "a bad parameter (named) or a refused config value (field)", 401: "missing or bad token",
           403: "the API key lacks the scope", 404: "not the caller's rule or log",
           429: "over the key's per-minute limit; see Retry-After", 501: "database migrations missing"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


COMMON = (400, 401, 403, 404, 429)


def _q(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": UUID}


def _op(summary: str, scope: str, ok: dict[str, Any], params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": f"API key scope: `{scope}`.",
                          "parameters": params or [], "responses": {**ok, **_errors(*COMMON)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _paths() -> dict[str, Any]:
    rule_q = _q("routing_rule_id", UUID, "the routing rule", required=True)
    return {
        f"{P}/rules": {"get": _op("The caller's routing rules", "webhooks:read",
                                  {"200": _answer("rules", _data({"type": "array", "items": RULE}))})},
        f"{P}/logs": {"get": _op("Attempt logs, newest first, keyset-paged", "webhooks:read",
                                 {"200": _answer("a page", _data({"type": "array", "items": LOG},
                                                                 next_cursor={"type": "string", "nullable": True}))},
                                 [_q("routing_rule_id", UUID, "required for API keys"),
                                  _q("status", LOG_STATUS, "only this status"),
                                  _q("since", TIME, "created at or after"), _q("until", TIME, "created before"),
                                  _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                                     "rows per page"),
                                  _q("cursor", {"type": "string"}, "next_cursor of the previous page")])},
        f"{P}/logs/{{log_id}}": {"get": _op("One attempt, with its retry chain (every attempt of its webhook-id)",
                                            "webhooks:read",
                                            {"200": _answer("the log", _data(LOG, chain={"type": "array", "items": LOG}))},
                                            [_path("log_id")])},
        f"{P}/stats": {"get": _op("Stats of a rule, equal to get_webhook_stats", "webhooks:read",
                                  {"200": _answer("stats", _data(STATS))},
                                  [rule_q, _q("days", {"type": "integer", "minimum": 1, "default": 7}, "window"),
                                   _q("series", {"type": "string", "enum": ["hour", "day"]},
                                      "add per-hour or per-day counts")])},
        f"{P}/replay/{{log_id}}": {"post": _op(
            "Replay a logged call: a new delivery of its payload", "webhooks:replay",
            {"200": _answer("with wait: the new attempt", _data(DELIVERY)),
             "202": _answer("queued (with wait: no attempt yet)", _data(DELIVERY))},
            [_path("log_id"), _q("wait", {"type": "number", "minimum": 0, "maximum": 30},
                                 "seconds to wait for the new attempt")])},
        f"{P}/config/{{routing_rule_id}}": {
            "get": _op("A rule's effective config", "webhooks:read", {"200": _answer("config", _data(CONFIG))},
                       [_path("routing_rule_id")]),
            "patch": _op("Change config keys (as update_webhook_config, including paused)", "webhooks:write",
                         {"200": _answer("the new config", _data(CONFIG))}, [_path("routing_rule_id")],
                         body={"type": "object", "example": {"timeout_ms": 5000, "paused": True}}),
        },
        f"{P}/recover": {"post": _op("Re-enqueue a rule's failed deliveries of a window", "webhooks:replay",
                                     {"200": _answer("count", _data({"type": "object", "properties": {
                                         "requeued": {"type": "integer"}}}))},
                                     body={"type": "object", "required": ["routing_rule_id", "since"],
                                           "properties": {"routing_rule_id": UUID, "since": TIME, "until": TIME}})},
        f"{P}/test/{{routing_rule_id}}": {"post": _op("Send a test delivery (also while paused)", "webhooks:replay",
                                                      {"202": _answer("queued", _data(DELIVERY))},
                                                      [_path("routing_rule_id")])},
        f"{P}/cancel/{{routing_rule_id}}": {"post": _op("Fail every pending delivery of a rule", "webhooks:write",
                                                        {"200": _answer("count", _data({"type": "object", "properties": {
                                                            "cancelled": {"type": "integer"}}}))},
                                                        [_path("routing_rule_id")])},
        f"{P}/events": {"get": _op("A rule's events, newest first", "webhooks:read",
                                   {"200": _answer("events", _data({"type": "array", "items": EVENT}))},
                                   [rule_q, _q("since", TIME, "created at or after")])},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                         "responses": {"200": {"description": "OpenAPI 3"}}}},
        "/api/v1/dashboard-config": {"get": {"summary": "Public settings the dashboard needs to sign in",
                                             "security": [], "responses": {"200": _answer("config", {
                                                 "type": "object", "properties": {
                                                     "supabase_url": {"type": "string", "nullable": True},
                                                     "supabase_anon_key": {"type": "string", "nullable": True}}})}}},
        "/healthz": {"get": {"summary": "200 ok, or 503 when the database is unreachable", "security": [],
                             "responses": {"200": {"description": "ok"}, "503": {"description": "unhealthy"}}}},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Funnel webhooks API", "version": "1",
                 "description": "Logs, stats, replay and config of a funnel owner's webhooks. "
                                "Authorization: Bearer <bpc_ API key or Supabase access token>."},
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a bpc_ API key or a Supabase access token (JWT)"}},
            "schemas": {"Log": LOG, "Rule": RULE, "Stats": STATS, "Config": CONFIG, "Event": EVENT, "Error": ERROR},
            "responses": {f"E{s}": {"description": d, "content": {"application/json": {"schema": ERROR}}}
                          for s, d in MEANING.items()},
        },
        "security": [{"bearer": []}],
    }
