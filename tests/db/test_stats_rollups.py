"""Stats served from webhook_stats_hourly equal the raw aggregate of webhook_logs, always."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import asyncpg
import pytest

from tests.db.conftest import OWNER_A, OWNER_B, World, acting_as, add_lead, add_rule, claim, record, result

DAY = 86_400
STATUSES = ("success", "failed", "retrying", "pending")

INSERT_LOGS = """
insert into webhook_logs (lead_id, routing_rule_id, webhook_url, status, duration_ms, max_attempts, created_at)
select $1, t.rule, 'https://example.com/hook', t.status::webhook_log_status, t.duration, 1,
       now() - make_interval(secs => t.age)
from unnest($2::uuid[], $3::text[], $4::int[], $5::float8[]) as t(rule, status, duration, age)
"""

# The rollup minus a fresh aggregate of the logs, both ways: empty when they agree.
ROLLUP_DRIFT = """
with raw as (
  select routing_rule_id, date_trunc('hour', created_at, 'UTC') as hour, count(*) as total_calls,
         count(*) filter (where status = 'success') as success_calls,
         coalesce(sum(duration_ms), 0) as duration_sum, count(duration_ms) as duration_count
  from webhook_logs group by 1, 2
),
rollup as (
  select routing_rule_id, hour, total_calls, success_calls, duration_sum, duration_count
  from webhook_stats_hourly
)
(select 'missing' as side, * from (select * from raw except all select * from rollup) m)
union all
(select 'extra', * from (select * from rollup except all select * from raw) e)
"""


@dataclass(frozen=True)
class Attempt:
    rule: uuid.UUID
    status: str
    duration: int | None
    age_seconds: float


def _ages(rng: random.Random, windows: Iterable[int]) -> list[float]:
    """Ages spread over 40 days, crowded at whole hours and at the edges of the windows asked about."""
    ages = [rng.uniform(0, 40 * DAY) for _ in range(250)]
    ages += [rng.randint(1, 40 * 24) * 3600 + rng.choice((-1.5, -0.001, 0, 0.001, 1.5)) for _ in range(80)]
    ages += [days * DAY + rng.uniform(-7200, 7200) for days in windows for _ in range(15)]
    ages += [rng.uniform(-120, 0) for _ in range(5)]  # a clock ahead of the database: still counted
    return ages


def _attempts(rng: random.Random, rules: list[uuid.UUID], windows: Iterable[int]) -> list[Attempt]:
    return [
        Attempt(rng.choice(rules), rng.choice(STATUSES),
                None if rng.random() < 0.15 else rng.choice((0, 1, 7, 99, 250, 10_000, rng.randint(0, 30_000))),
                age)
        for age in _ages(rng, windows)
    ]


async def _insert(db: asyncpg.Connection, lead: uuid.UUID, attempts: list[Attempt], batch: int = 37) -> None:
    """Several multi-row statements, so that batches share buckets with earlier ones."""
    for start in range(0, len(attempts), batch):
        chunk = attempts[start:start + batch]
        await db.execute(INSERT_LOGS, lead, [a.rule for a in chunk], [a.status for a in chunk],
                         [a.duration for a in chunk], [a.age_seconds for a in chunk])


def _round2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _by_hand(rows: list[asyncpg.Record], rule: uuid.UUID, since: datetime) -> tuple:
    """The contract's numbers for one rule from logs created at or after `since`."""
    mine = [r for r in rows if r["routing_rule_id"] == rule and r["created_at"] >= since]
    successes = sum(1 for r in mine if r["status"] == "success")
    durations = [r["duration_ms"] for r in mine if r["duration_ms"] is not None]
    return (
        len(mine),
        successes,
        len(mine) - successes,
        _round2(Decimal(sum(durations)) / len(durations)) if durations else Decimal("0.00"),
        _round2(Decimal(100 * successes) / len(mine)) if mine else Decimal("0.00"),
    )


async def _assert_stats_match(db: asyncpg.Connection, rules: list[uuid.UUID], windows: Iterable[int]) -> int:
    """get_webhook_stats == the raw aggregate for every (rule, days); the number of calls compared."""
    compared = 0
    async with db.transaction():  # one now() for the function and the hand computation
        now = await db.fetchval("select now()")
        rows = await db.fetch("select routing_rule_id, created_at, status::text, duration_ms from webhook_logs")
        for rule in rules:
            for days in windows:
                got = await db.fetchrow("select * from get_webhook_stats($1, $2)", rule, days)
                expected = _by_hand(rows, rule, now - timedelta(days=days))
                assert tuple(got.values()) == expected, (rule, days)
                compared += expected[0]
    assert await db.fetch(ROLLUP_DRIFT) == []
    return compared


@pytest.fixture
async def lead(db: asyncpg.Connection, world: World) -> uuid.UUID:
    return await add_lead(db, world.funnel_a)


@pytest.fixture
async def rules(db: asyncpg.Connection, world: World) -> list[uuid.UUID]:
    extra = [await add_rule(db, world.funnel_a, client=f"Client {n}") for n in range(4)]
    return [world.rule_a, world.rule_b, *extra]


WINDOWS = (1, 3, 7, 10, 30, 45)


async def test_random_attempts_over_many_rules_and_days_match_the_raw_aggregate(
        db: asyncpg.Connection, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    rng = random.Random(20261129)
    await _insert(db, lead, _attempts(rng, rules[:-1], WINDOWS))  # the last rule has no attempts at all

    assert await _assert_stats_match(db, rules, WINDOWS) > 1000
    assert tuple((await db.fetchrow("select * from get_webhook_stats($1, 30)", rules[-1])).values()) == (
        0, 0, 0, 0, 0)


async def test_recorded_attempts_are_counted_as_they_are_recorded(
        db: asyncpg.Connection, world: World) -> None:
    await db.execute("insert into leads (funnel_id) select $1 from generate_series(1, 6)", world.funnel_a)
    jobs = await claim(db, "w")
    await record(db, [result(job, "w", success=n % 3 != 0, retry_in_ms=1000, duration_ms=10 * n + 1)
                      for n, job in enumerate(jobs)])

    stats = await db.fetchrow("select * from get_webhook_stats($1)", world.rule_a)
    assert tuple(stats.values()) == (6, 4, 2, Decimal("26.00"), Decimal("66.67"))
    assert await db.fetchval("select sum(total_calls) from webhook_stats_hourly") == 6
    assert await _assert_stats_match(db, [world.rule_a], (1, 7)) == 12


async def test_purge_deletes_and_updates_keep_the_rollup_equal_to_the_logs(
        db: asyncpg.Connection, world: World, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    rng = random.Random(7)
    await _insert(db, lead, _attempts(rng, rules, WINDOWS))
    await db.execute("update webhook_settings set value = '10' where key = 'log_retention_days'")

    assert await db.fetchval("select purge_webhook_logs()") > 100
    assert await db.fetchval("select min(hour) from webhook_stats_hourly") >= \
        await db.fetchval("select date_trunc('hour', now() - interval '10 days', 'UTC')")
    await _assert_stats_match(db, rules, WINDOWS)

    # Moved in time, changed status or duration, moved to another rule.
    await db.execute("update webhook_logs set created_at = created_at - interval '3 days 30 minutes'"
                     " where ctid in (select ctid from webhook_logs order by id limit 40)")
    await db.execute("update webhook_logs set status = 'success', duration_ms = null"
                     " where status = 'failed' and duration_ms > 200")
    await db.execute("update webhook_logs set routing_rule_id = $1 where routing_rule_id = $2", rules[2], rules[3])
    await db.execute("update webhook_logs set parent_log_id = id")  # counts nothing: the rollup is not touched
    await _assert_stats_match(db, rules, WINDOWS)

    # Cascades from the host tables: a rule, then a lead with everything it carried.
    await db.execute("delete from routing_rules where id = $1", rules[4])
    assert await db.fetchval("select count(*) from webhook_stats_hourly where routing_rule_id = $1", rules[4]) == 0
    await _assert_stats_match(db, rules[:4], WINDOWS)
    await db.execute("delete from leads where id = $1", lead)
    assert await db.fetchval("select count(*) from webhook_stats_hourly") == 0


async def test_truncate_empties_the_rollup(db: asyncpg.Connection, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    await _insert(db, lead, _attempts(random.Random(3), rules, WINDOWS))
    await db.execute("truncate webhook_logs cascade")
    assert await db.fetchval("select count(*) from webhook_stats_hourly") == 0
    await _assert_stats_match(db, rules, (7,))


async def test_buckets_do_not_depend_on_the_session_time_zone(
        db: asyncpg.Connection, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    rng = random.Random(11)
    for zone in ("Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu"):  # offsets of :30 and :45
        await db.execute(f"set timezone = '{zone}'")
        await _insert(db, lead, _attempts(rng, rules, WINDOWS)[:120])
    for zone in ("UTC", "Australia/Eucla", "Pacific/Chatham"):
        await db.execute(f"set timezone = '{zone}'")
        await _assert_stats_match(db, rules, WINDOWS)


async def test_api_webhook_stats_reads_the_rollup_too(
        db: asyncpg.Connection, world: World, lead: uuid.UUID) -> None:
    await _insert(db, lead, _attempts(random.Random(5), [world.rule_a], (7,)))
    async with acting_as(db, "authenticated", OWNER_A):
        key = await db.fetchval("select create_api_key('stats')")
    rows = await db.fetch("select routing_rule_id, created_at, status::text, duration_ms from webhook_logs")
    async with acting_as(db, "anon", headers={"x-api-key": key}):
        now = await db.fetchval("select now()")
        got = await db.fetchrow("select * from api_webhook_stats($1, 7)", world.rule_a)
    assert tuple(got.values()) == _by_hand(rows, world.rule_a, now - timedelta(days=7))


async def test_logs_loaded_without_triggers_are_counted_after_a_rebuild(
        db: asyncpg.Connection, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    attempts = _attempts(random.Random(13), rules, WINDOWS)
    await _insert(db, lead, attempts[:100])
    async with db.transaction():
        await db.execute("set local session_replication_role = replica")
        await _insert(db, lead, attempts[100:])
    assert await db.fetch(ROLLUP_DRIFT) != []
    # Deleting logs the rollup never saw leaves no negative buckets behind.
    await db.execute("delete from webhook_logs where created_at < now() - interval '20 days'")
    assert await db.fetchval("select count(*) from webhook_stats_hourly where total_calls <= 0") == 0

    async with acting_as(db, "service_role"):
        assert await db.fetchval("select webhook_stats_rebuild()") > 0
    await _assert_stats_match(db, rules, WINDOWS)
    for role in ("authenticated", "anon"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with acting_as(db, role, OWNER_A):
                await db.execute("select webhook_stats_rebuild()")


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------
async def _writer(dsn: str, lead: uuid.UUID, rules: list[uuid.UUID], seed: int, rounds: int) -> int:
    """Small transactions of inserts (and some deletes) over shared buckets; the rows it inserted."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(dsn)
    inserted = 0
    try:
        for _ in range(rounds):
            picked = rng.sample(rules, k=len(rules))  # every order of the same buckets
            attempts = [Attempt(rule, rng.choice(STATUSES), rng.randint(0, 500), rng.choice((5.0, 3605.0, 7205.0)))
                        for rule in picked for _ in range(rng.randint(1, 4))]
            async with conn.transaction():
                await _insert(conn, lead, attempts, batch=len(attempts))
                await asyncio.sleep(0.001)  # hold the bucket locks while the other writers run
            inserted += len(attempts)
            if rng.random() < 0.2:  # like purge: one statement in its own transaction
                await conn.execute("delete from webhook_logs where id in (select id from webhook_logs"
                                   " where routing_rule_id = $1 order by id limit 3)", rng.choice(rules))
        return inserted
    finally:
        await conn.close()


async def test_concurrent_writers_of_the_same_buckets_lose_nothing_and_never_deadlock(
        db: asyncpg.Connection, db_dsn: str, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    written = await asyncio.gather(*(_writer(db_dsn, lead, rules, seed, rounds=60) for seed in (1, 2, 3)))

    assert sum(written) >= await db.fetchval("select count(*) from webhook_logs") > 0
    assert await db.fetchval("select sum(total_calls) from webhook_stats_hourly") == \
        await db.fetchval("select count(*) from webhook_logs")
    await _assert_stats_match(db, rules, (1, 7))


async def test_a_second_writer_waits_for_the_first_then_adds_its_counts(
        db: asyncpg.Connection, db_dsn: str, lead: uuid.UUID, rules: list[uuid.UUID]) -> None:
    first, second = await asyncpg.connect(db_dsn), await asyncpg.connect(db_dsn)
    try:
        one = [Attempt(rules[0], "success", 10, 5.0), Attempt(rules[1], "failed", 20, 5.0)]
        two = [Attempt(rules[1], "success", 30, 5.0), Attempt(rules[0], "failed", None, 5.0)]
        tx_first = first.transaction()
        await tx_first.start()
        await _insert(first, lead, one)
        async with second.transaction():
            waiting = asyncio.ensure_future(_insert(second, lead, two))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # blocked on the first writer's bucket rows, holding none itself
            await tx_first.commit()
            await waiting
    finally:
        await first.close()
        await second.close()

    rows = await db.fetch("select routing_rule_id, sum(total_calls), sum(success_calls), sum(duration_sum),"
                          " sum(duration_count) from webhook_stats_hourly group by 1")
    assert sorted(tuple(r.values()) for r in rows) == sorted([(rules[0], 2, 1, 10, 1), (rules[1], 2, 1, 50, 2)])


# ---------------------------------------------------------------------------
# Who reads the rollup
# ---------------------------------------------------------------------------
async def test_owners_read_only_their_buckets_and_nobody_writes_them(
        db: asyncpg.Connection, world: World, lead: uuid.UUID) -> None:
    lead_b = await add_lead(db, world.funnel_b)
    await _insert(db, lead, [Attempt(world.rule_a, "success", 5, 60.0)])
    await _insert(db, lead_b, [Attempt(world.rule_b, "failed", 9, 60.0)])
    query = "select routing_rule_id from webhook_stats_hourly"

    async with acting_as(db, "authenticated", OWNER_A):
        assert [r["routing_rule_id"] for r in await db.fetch(query)] == [world.rule_a]
    async with acting_as(db, "authenticated", OWNER_B):
        assert [r["routing_rule_id"] for r in await db.fetch(query)] == [world.rule_b]
    async with acting_as(db, "authenticated"):
        assert await db.fetch(query) == []
    async with acting_as(db, "service_role"):
        assert len(await db.fetch(query)) == 2
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with acting_as(db, "anon"):
            await db.fetch(query)
    for role, sub in (("authenticated", OWNER_A), ("service_role", None)):
        for statement in ("update webhook_stats_hourly set total_calls = 0",
                          "delete from webhook_stats_hourly",
                          "insert into webhook_stats_hourly values ($1, now(), 1, 1, 1, 1)"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with acting_as(db, role, sub):
                    await db.execute(statement, *([world.rule_a] if "$1" in statement else []))
    for function in ("webhook_stats_add_inserted()", "webhook_stats_remove_deleted()",
                     "webhook_stats_move_updated()", "webhook_stats_clear()", "webhook_stats_for_rule(uuid, integer)"):
        for role in ("anon", "authenticated", "service_role"):
            assert not await db.fetchval("select has_function_privilege($1, $2::regprocedure, 'execute')",
                                         role, f"webhooks_private.{function}")
