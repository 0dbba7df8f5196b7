"""API v1's parameter parsing and refusal mapping, without a server."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from sidecar.api.errors import ApiError
from sidecar.api.params import decode_cursor, encode_cursor, time_value
from sidecar.api.store import config_field, pgrst_error, refusal, sqlstate_status


def test_a_cursor_round_trips_the_row_it_was_made_from() -> None:
    ident = uuid.uuid4()
    moment = "2026-12-02T14:30:00.123456+00:00"
    assert decode_cursor(encode_cursor({"created_at": moment, "id": str(ident)})) == (
        datetime.fromisoformat(moment), ident)


@pytest.mark.parametrize("raw", ["x", "bm90IGEgY3Vyc29y", encode_cursor({"created_at": "now", "id": "1"})])
def test_a_foreign_cursor_is_a_400_naming_cursor(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        decode_cursor(raw)
    assert caught.value.status == 400 and caught.value.parameter == "cursor"


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-12-01T00:00:00Z", datetime(2026, 12, 1, tzinfo=timezone.utc)),
    ("2026-12-01T01:00:00 01:00", datetime(2026, 12, 1, tzinfo=timezone.utc)),  # '+' decoded from a query string
    ("2026-12-01", datetime(2026, 12, 1, tzinfo=timezone.utc)),
])
def test_timestamps_accept_iso_8601_with_or_without_offset(raw: str, expected: datetime) -> None:
    assert time_value("since", raw) == expected


@pytest.mark.parametrize(("message", "field"), [
    ("invalid webhook config: max_retries must be between 0 and 20, got 99", "max_retries"),
    ('invalid webhook config: unknown key "colour"', "colour"),
    ("invalid webhook config: custom_headers: header Host cannot be set", "custom_headers"),
    ("routing rule x not found", None),
])
def test_config_refusals_name_their_field(message: str, field: str | None) -> None:
    assert config_field(message) == field


def test_a_pgrst_raise_becomes_its_status_message_and_headers() -> None:
    error = pgrst_error('{"code": "rate_limited", "message": "rate limit exceeded", "details": null, "hint": null}',
                        '{"status": 429, "headers": {"Retry-After": "12"}}')
    assert (error.status, error.message, error.headers) == (429, "rate limit exceeded", {"Retry-After": "12"})


def test_sqlstates_map_like_postgrest_and_internal_errors_say_nothing_inside() -> None:
    assert [sqlstate_status(s) for s in ("P0002", "42501", "23514", "22023", "42883", "XX000")] == [
        404, 403, 400, 400, 501, 500]
    assert refusal(500, "relation secret_table does not exist").message.startswith("the database could not")
