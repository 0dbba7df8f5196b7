"""Bad webhook configuration is refused, with a message that names the field."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.db.conftest import World


async def _insert(db: asyncpg.Connection, rule, **values) -> None:
    columns = ", ".join(["routing_rule_id", *values])
    params = ", ".join(f"${i}" for i in range(1, len(values) + 2))
    await db.execute(f"insert into webhook_configs ({columns}) values ({params})", rule, *values.values())


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_ms", 99), ("timeout_ms", 300001), ("timeout_ms", -1),
    ("max_retries", -1), ("max_retries", 21),
    ("retry_delay_ms", 99), ("retry_delay_ms", 86400001),
    ("retry_backoff_multiplier", 0.5), ("retry_backoff_multiplier", 10.5),
    ("signing_secret", "not-a-secret"), ("signing_secret", "whsec_short"),
])
async def test_out_of_range_values_are_refused_naming_the_field(db: asyncpg.Connection, world: World,
                                                               field: str, value) -> None:
    if field == "retry_backoff_multiplier":
        from decimal import Decimal
        value = Decimal(str(value))
    with pytest.raises(asyncpg.CheckViolationError, match=f"invalid webhook config: {field}") as caught:
        await _insert(db, world.rule_a, **{field: value})
    assert caught.value.column_name == field
    assert caught.value.constraint_name == f"webhook_configs_{field}_check"


@pytest.mark.parametrize(("headers", "complaint"), [
    ({"X Custom": "a"}, "not a valid HTTP header name"),
    ({"X-Custom:": "a"}, "not a valid HTTP header name"),
    ({"": "a"}, "not a valid HTTP header name"),
    ({"X-Custom": "a\r\nX-Injected: 1"}, "CR, LF"),
    ({"X-Custom": "line\nbreak"}, "CR, LF"),
    ({"X-Custom": 5}, "must be a string"),
    ({"host": "evil.example"}, "cannot be overridden"),
    ({"Content-Type": "text/plain"}, "cannot be overridden"),
    ({"CONTENT-LENGTH": "1"}, "cannot be overridden"),
    ({"Transfer-Encoding": "chunked"}, "cannot be overridden"),
    ({"Connection": "close"}, "cannot be overridden"),
    ({"User-Agent": "x"}, "cannot be overridden"),
    ({"x-lead-id": "x"}, "cannot be overridden"),
    ({"X-Funnel-Webhook": "false"}, "cannot be overridden"),
    ({"Webhook-Signature": "v1,forged"}, "cannot be overridden"),
    ({"webhook-id": "x"}, "cannot be overridden"),
    ({"X-A": "1", "x-a": "2"}, "more than once"),
    ({f"X-H{i}": "v" for i in range(51)}, "at most 50"),
])
async def test_bad_custom_headers_are_refused_naming_the_header(db: asyncpg.Connection, world: World,
                                                                headers: dict, complaint: str) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="invalid webhook config: custom_headers") as caught:
        await db.execute("insert into webhook_configs (routing_rule_id, custom_headers) values ($1, $2::jsonb)",
                         world.rule_a, json.dumps(headers))
    assert complaint in caught.value.message
    assert caught.value.column_name == "custom_headers"


async def test_good_headers_are_accepted(db: asyncpg.Connection, world: World) -> None:
    headers = {"Authorization": "Bearer abc.def", "X-Api-Key": "k-1", "X-Tenant": "acme corp\tEU",
               f"X-{'A' * 40}": "v", "X-H!#$%&'*+.^_`|~": "ok"}
    await db.execute("insert into webhook_configs (routing_rule_id, custom_headers) values ($1, $2::jsonb)",
                     world.rule_a, json.dumps(headers))
    assert json.loads(await db.fetchval("select custom_headers from webhook_configs")) == headers


async def test_the_check_constraints_back_up_the_trigger(db: asyncpg.Connection, world: World) -> None:
    await _insert(db, world.rule_a)
    await db.execute("alter table webhook_configs disable trigger webhook_configs_validate")
    with pytest.raises(asyncpg.CheckViolationError, match="webhook_configs_timeout_ms_check"):
        await db.execute("update webhook_configs set timeout_ms = 1")
    with pytest.raises(asyncpg.CheckViolationError, match="webhook_configs_custom_headers_check"):
        await db.execute("""update webhook_configs set custom_headers = '{"Host": "x"}'""")


async def _patch(db: asyncpg.Connection, rule, patch) -> asyncpg.Record:
    return await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", rule, json.dumps(patch))


async def test_update_webhook_config_creates_the_row_with_defaults_and_applies_the_patch(
    db: asyncpg.Connection, world: World
) -> None:
    row = await _patch(db, world.rule_a, {"timeout_ms": 5000, "custom_headers": {"X-Tenant": "acme"}})
    assert row["timeout_ms"] == 5000 and json.loads(row["custom_headers"]) == {"X-Tenant": "acme"}
    assert (row["retry_enabled"], row["max_retries"], row["retry_delay_ms"]) == (True, 3, 1000)
    assert float(row["retry_backoff_multiplier"]) == 2.0 and row["signing_secret"].startswith("whsec_")

    secret = row["signing_secret"]
    row = await _patch(db, world.rule_a, {"max_retries": 0, "retry_backoff_multiplier": 1.5})
    assert (row["timeout_ms"], row["max_retries"], float(row["retry_backoff_multiplier"])) == (5000, 0, 1.5)
    assert row["signing_secret"] == secret and row["updated_at"] >= row["created_at"]

    row = await _patch(db, world.rule_a, {"timeout_ms": None, "signing_secret": None})
    assert row["timeout_ms"] == 10000 and row["signing_secret"] != secret  # null: default / fresh secret


@pytest.mark.parametrize(("patch", "field"), [
    ({"timeout": 5000}, "unknown key \"timeout\""),
    ({"timeout_ms": 50}, "timeout_ms must be between 100 and 300000"),
    ({"timeout_ms": "fast"}, "timeout_ms must be a whole number"),
    ({"timeout_ms": 1.5}, "timeout_ms must be a whole number"),
    ({"max_retries": 99}, "max_retries must be between 0 and 20"),
    ({"retry_enabled": "yes"}, "retry_enabled must be true or false"),
    ({"retry_delay_ms": 10}, "retry_delay_ms must be between 100 and 86400000"),
    ({"retry_backoff_multiplier": 11}, "retry_backoff_multiplier must be between 1 and 10"),
    ({"signing_secret": "plain"}, "signing_secret must be whsec_"),
    ({"custom_headers": {"Host": "x"}}, "custom_headers: header \"Host\" is set by the webhook sender"),
    ({"custom_headers": ["X-A"]}, "custom_headers must be a JSON object"),
])
async def test_update_webhook_config_refuses_unknown_keys_and_bad_values_naming_them(
    db: asyncpg.Connection, world: World, patch: dict, field: str
) -> None:
    with pytest.raises(asyncpg.PostgresError) as caught:
        await _patch(db, world.rule_a, patch)
    assert field in caught.value.message
    assert caught.value.message.startswith("invalid webhook config: ")


async def test_update_webhook_config_needs_an_object(db: asyncpg.Connection, world: World) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="patch must be a JSON object"):
        await _patch(db, world.rule_a, [1])
