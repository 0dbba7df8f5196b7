"""get_webhook_stats against a hand computation."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead


async def _log(db: asyncpg.Connection, world: World, lead, status: str, duration: int | None,
               age: str = "1 hour") -> None:
    await db.execute(
        "insert into webhook_logs (lead_id, routing_rule_id, webhook_url, status, duration_ms, max_attempts,"
        " created_at) values ($1, $2, 'https://example.com', $3::webhook_log_status, $4, 1,"
        " now() - $5::text::interval)",
        lead, world.rule_a, status, duration, age,
    )


async def _stats(db: asyncpg.Connection, rule, days: int | None = None) -> asyncpg.Record:
    if days is None:
        return await db.fetchrow("select * from get_webhook_stats($1)", rule)
    return await db.fetchrow("select * from get_webhook_stats($1, $2)", rule, days)


async def test_zero_calls_give_zeros(db: asyncpg.Connection, world: World) -> None:
    row = await _stats(db, world.rule_a)
    assert tuple(row.values()) == (0, 0, 0, 0, 0)


async def test_stats_equal_a_hand_computation(db: asyncpg.Connection, world: World) -> None:
    lead = await add_lead(db, world.funnel_a)
    await db.execute("delete from webhook_queue")
    attempts = [("success", 100), ("success", 250), ("success", 33), ("failed", 10000), ("retrying", 7),
                ("failed", None), ("success", None)]
    for status, duration in attempts:
        await _log(db, world, lead, status, duration)
    await _log(db, world, lead, "success", 999_999, age="8 days")  # outside the default 7 days

    durations = [d for _, d in attempts if d is not None]
    successes = sum(1 for s, _ in attempts if s == "success")
    expected = (
        len(attempts),
        successes,
        len(attempts) - successes,
        round(Decimal(sum(durations)) / len(durations), 2),
        round(Decimal(100 * successes) / len(attempts), 2),
    )
    row = await _stats(db, world.rule_a)
    assert tuple(row.values()) == expected
    assert expected[3:] == (Decimal("2078.00"), Decimal("57.14"))

    wide = await _stats(db, world.rule_a, days=30)
    assert (wide["total_calls"], wide["success_calls"]) == (8, 5)
    assert wide["success_rate"] == Decimal("62.50")


async def test_stats_are_for_the_owner_service_role_and_studio_only(db: asyncpg.Connection, world: World) -> None:
    async with acting_as(db, "authenticated", OWNER_A):
        assert (await _stats(db, world.rule_a))["total_calls"] == 0
    async with acting_as(db, "service_role"):
        assert (await _stats(db, world.rule_a))["total_calls"] == 0
    with pytest.raises(asyncpg.NoDataFoundError, match="routing rule .* not found"):
        async with acting_as(db, "authenticated", OWNER_B):
            await _stats(db, world.rule_a)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with acting_as(db, "anon"):
            await _stats(db, world.rule_a)


async def test_days_must_be_positive(db: asyncpg.Connection, world: World) -> None:
    with pytest.raises(asyncpg.InvalidParameterValueError, match="days must be between 1"):
        await _stats(db, world.rule_a, days=0)


async def test_an_authenticated_caller_without_a_user_id_sees_nothing(db: asyncpg.Connection, world: World) -> None:
    with pytest.raises(asyncpg.NoDataFoundError, match="routing rule .* not found"):
        async with acting_as(db, "authenticated"):
            await _stats(db, world.rule_a)
