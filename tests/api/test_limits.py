"""Limits reach API callers as 400s that carry the database's message."""

from __future__ import annotations

import asyncpg

from tests.api.conftest import Server, add_logs, make_key, make_owner
from tests.api.test_routes import P, assert_error


async def test_a_replay_over_the_owners_hand_enqueue_limit_is_a_400_with_the_reason(
        server: Server, db: asyncpg.Connection) -> None:
    owner = await make_owner(db)
    [log] = await add_logs(db, owner, ["failed"])
    lead = await db.fetchval("select lead_id from webhook_logs where id = $1", log)
    await db.execute(
        "insert into webhook_queue (lead_id, routing_rule_id, attempt_number, max_attempts, scheduled_at,"
        " payload, enqueued_by) select $1, $2, 1, 1, now() + interval '1 day', '{}', $3 from generate_series(1, 1000)",
        lead, owner.rule_id, owner.id)
    key = await make_key(db, owner, ["webhooks:replay"])
    async with server.client(key) as client:
        refused = await client.post(f"{P}/replay/{log}")
    async with server.client(owner.jwt) as client:
        refused_jwt = await client.post(f"{P}/replay/{log}")
    for response in (refused, refused_jwt):
        assert_error(response, 400, "too many deliveries enqueued by hand", "1000")
