"""Query and body parameters, checked before any call: a bad one is a 400 naming it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from sidecar.api.errors import bad_parameter

LOG_STATUSES = ("pending", "success", "failed", "retrying")


def uuid_value(name: str, raw: Any, required: bool = True) -> UUID | None:
    if raw is None or raw == "":
        if required:
            raise bad_parameter(name, "is required (a uuid)")
        return None
    try:
        return UUID(str(raw))
    except ValueError:
        raise bad_parameter(name, f"must be a uuid, got {str(raw)[:60]!r}") from None


def int_value(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(name, f"must be a whole number from {low} to {high}, got {raw[:60]!r}") from None
    if not low <= value <= high:
        raise bad_parameter(name, f"must be from {low} to {high}, got {value}")
    return value


def number_value(name: str, raw: str | None, low: float, high: float) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad_parameter(name, f"must be a number of seconds from {low:g} to {high:g}, got {raw[:60]!r}") from None
    if not low <= value <= high:
        raise bad_parameter(name, f"must be from {low:g} to {high:g} seconds, got {raw}")
    return value


def time_value(name: str, raw: Any, required: bool = False) -> datetime | None:
    if raw is None or raw == "":
        if required:
            raise bad_parameter(name, "is required (an ISO 8601 timestamp such as 2026-12-01T00:00:00Z)")
        return None
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00").replace(" ", "+", 1)
                                        if "T" in str(raw) else str(raw))
    except ValueError:
        raise bad_parameter(name, f"must be an ISO 8601 timestamp such as 2026-12-01T00:00:00Z, got {str(raw)[:60]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def choice_value(name: str, raw: str | None, options: tuple[str, ...]) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in options:
        raise bad_parameter(name, f"must be one of {', '.join(options)}, got {raw[:60]!r}")
    return raw


def encode_cursor(row: Mapping[str, Any]) -> str:
    text = f"{row['created_at']}|{row['id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> tuple[datetime | None, UUID | None]:
    if not raw:
        return None, None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        moment, _, ident = text.partition("|")
        return datetime.fromisoformat(moment), UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise bad_parameter("cursor", "is not a cursor this API gave: pass next_cursor unchanged") from None
