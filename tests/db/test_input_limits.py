"""Every stored input has a limit, refused where it is stored with a message naming the field."""

from __future__ import annotations

import base64
import json

import asyncpg
import pytest

from sidecar.delivery.signing import secret_key, secret_problem
from tests.db.conftest import World, add_lead

SECRETS = [
    "whsec_" + base64.b64encode(bytes(range(n))).decode() for n in (23, 24, 25, 26, 32, 63, 64, 65)
] + [
    "whsec_" + "A" * 33,                       # the old SQL rule took this; base64 refuses it
    "whsec_" + "A" * 32 + "=",
    "whsec_" + "A" * 31 + "=",
    "whsec_" + "A" * 30 + "==",
    "whsec_" + "A" * 30 + "=A",
    "whsec_" + "A" * 28 + "A=AA",
    "whsec_" + "A" * 32 + "====",
    "whsec_" + "A" * 32 + "\n",
    "whsec_" + "A" * 31 + " ",
    "whsec_" + "A-_A" * 8,                     # url-safe alphabet
    "whsec_" + "A" * 88, "whsec_" + "A" * 92,
    "whsec_" + "A" * 4096,
    base64.b64encode(bytes(32)).decode(),      # no prefix
    "WHSEC_" + base64.b64encode(bytes(32)).decode(),
    "whsec_", "", "whsec_é" + "A" * 31,
]


async def test_sql_and_python_agree_on_every_signing_secret(db: asyncpg.Connection) -> None:
    for secret in SECRETS:
        sql = await db.fetchval("select webhooks_private.webhook_secret_problem($1)", secret)
        python = secret_problem(secret)
        assert (sql is None) == (python is None), (secret[:100], sql, python)
        if python is None:
            assert 24 <= len(secret_key(secret)) <= 64


async def test_a_secret_the_sidecar_cannot_decode_is_refused_when_saved(db: asyncpg.Connection, world: World) -> None:
    for secret in ["whsec_" + "A" * 33, "whsec_" + "A" * 8_000_000]:
        with pytest.raises(asyncpg.CheckViolationError, match="invalid webhook config: signing_secret") as caught:
            await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", world.rule_a,
                              json.dumps({"signing_secret": secret}))
        assert caught.value.column_name == "signing_secret"


async def test_custom_headers_total_size_is_bounded(db: asyncpg.Connection, world: World) -> None:
    fits = {f"X-H{n}": "v" * 300 for n in range(50)}
    await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", world.rule_a,
                      json.dumps({"custom_headers": fits}))
    too_big = {f"X-H{n}": "v" * 400 for n in range(50)}
    with pytest.raises(asyncpg.CheckViolationError, match="custom_headers: names and values total .* at most 16384"):
        await db.fetchrow("select * from update_webhook_config($1, $2::jsonb)", world.rule_a,
                          json.dumps({"custom_headers": too_big}))


async def test_a_lead_over_one_mebibyte_is_refused_naming_data(db: asyncpg.Connection, world: World) -> None:
    await add_lead(db, world.funnel_a, {"blob": "x" * (1024 * 1024 - 100)})
    with pytest.raises(asyncpg.CheckViolationError,
                       match="invalid lead: data is .* bytes as JSON text; at most 1048576") as caught:
        await add_lead(db, world.funnel_a, {"blob": "x" * (1024 * 1024)})
    assert caught.value.column_name == "data"


def _nested(depth: int) -> str:
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


async def test_a_lead_nested_deeper_than_64_levels_is_refused(db: asyncpg.Connection, world: World) -> None:
    await db.execute("insert into leads (funnel_id, data) values ($1, $2::jsonb)", world.funnel_a,
                     json.dumps({"wide": [{"a": [1]} for _ in range(500)], "deep": json.loads(_nested(63))}))
    for text in [_nested(65), '{"a": ' + _nested(5000) + "}"]:
        with pytest.raises(asyncpg.CheckViolationError, match="invalid lead: data nests .* deeper than 64 levels"):
            await db.execute("insert into leads (funnel_id, data) values ($1, $2::jsonb)", world.funnel_a, text)


async def test_bulk_inserts_of_small_leads_still_work(db: asyncpg.Connection, world: World) -> None:
    await db.execute("insert into leads (funnel_id, data) select $1, jsonb_build_object('i', i)"
                     " from generate_series(1, 5000) i", world.funnel_a)
    assert await db.fetchval("select count(*) from webhook_queue where routing_rule_id = $1", world.rule_a) == 5000


async def test_webhook_url_and_condition_are_bounded_on_routing_rules(db: asyncpg.Connection, world: World) -> None:
    long_url = "https://example.com/" + "a" * 2029
    with pytest.raises(asyncpg.CheckViolationError,
                       match="invalid routing rule: webhook_url is 2049 characters long; at most 2048") as caught:
        await db.execute("update routing_rules set webhook_url = $2 where id = $1", world.rule_a, long_url)
    assert caught.value.column_name == "webhook_url"
    await db.execute("update routing_rules set webhook_url = $2 where id = $1", world.rule_a, long_url[:-1])
    with pytest.raises(asyncpg.CheckViolationError, match="invalid routing rule: condition nests"):
        await db.execute("update routing_rules set condition = $2::jsonb where id = $1", world.rule_a,
                         json.dumps({"a": json.loads(_nested(80))}))
