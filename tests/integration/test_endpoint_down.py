"""A client's endpoint is down: holds, recover, test, replay and rate, with real sidecar processes and receivers."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from sidecar.store.direct import DirectStore
from tests.integration.support import insert_lead, make_rule, run_once
from tests.integration.test_cli import EXE, env, sidecar  # noqa: F401 - env is a fixture
from tests.receiver import Hit, Receiver, reply

RATE = 5
RATE_DELIVERIES = 30


@asynccontextmanager
async def running_sidecars(env: dict[str, str], count: int = 1) -> AsyncIterator[None]:
    """`webhook-sidecar run` processes, stopped with SIGTERM (and checked to exit 0) on the way out."""
    procs = [await asyncio.create_subprocess_exec(
        EXE, "run", env={**env, "WEBHOOK_WORKER_ID": f"sidecar-{n}"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE) for n in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            async with asyncio.timeout(30):
                _, err = await proc.communicate()
            assert proc.returncode == 0, err.decode()


async def wait_for(check: Callable[[], Awaitable[bool]] | Callable[[], bool], limit_s: float = 30.0) -> None:
    async with asyncio.timeout(limit_s):
        while True:
            answer = check()
            if await answer if asyncio.iscoroutine(answer) else answer:
                return
            await asyncio.sleep(0.05)


HOLDS = {
    "paused": ("select update_webhook_config($1, '{\"paused\": true}')",
               "select update_webhook_config($1, '{\"paused\": false}')"),
    "rule inactive": ("update routing_rules set is_active = false where id = $1",
                      "update routing_rules set is_active = true where id = $1"),
    "funnel not active": (
        "update funnels set status = 'paused' where id = (select funnel_id from routing_rules where id = $1)",
        "update funnels set status = 'active' where id = (select funnel_id from routing_rules where id = $1)"),
}


@pytest.mark.parametrize("hold", list(HOLDS))
async def test_a_held_rules_retries_reach_nobody_while_a_sidecar_runs_and_continue_when_released(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver, hold: str
) -> None:
    url = receiver.script("/down", reply(500), reply(500), reply(200))
    rule = await make_rule(db, url, retry_delay_ms=1000, max_retries=5)
    for _ in range(2):
        await insert_lead(db, rule.funnel_id)
    code, _, err = await sidecar(env, "run", "--once")  # first attempts fail; retries pending
    assert code == 0, err
    hold_sql, release_sql = HOLDS[hold]
    await db.execute(hold_sql, rule.id)

    async with running_sidecars(env):
        await asyncio.sleep(2.0)  # several poll intervals and retry delays
        assert len(receiver.hits) == 2
        await db.execute(release_sql, rule.id)
        await wait_for(lambda: len(receiver.hits) >= 4)
        await wait_for(lambda: db.fetchval("select bool_and(status = 'completed') from webhook_queue"))

    logs = await db.fetch("select queue_id, attempt_number, status from webhook_logs order by created_at")
    by_delivery: dict[object, list[int]] = {}
    for log in logs:
        by_delivery.setdefault(log["queue_id"], []).append(log["attempt_number"])
    assert sorted(by_delivery.values()) == [[1, 2], [1, 2]]
    assert [log["status"] for log in logs] == ["retrying", "retrying", "success", "success"]


async def test_recover_twice_sends_each_failed_delivery_once_with_its_webhook_id_and_body(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    down = receiver.script("/crm", reply(503))
    rule = await make_rule(db, down, max_retries=0)
    for n in range(3):
        await insert_lead(db, rule.funnel_id, {"email": f"lead{n}@example.com"})
    assert (await sidecar(env, "run", "--once"))[0] == 0
    originals = {h.headers["webhook-id"]: h.body for h in receiver.hits}
    receiver.scripts["/crm"] = [reply(200)]
    replayed_log = await db.fetchval("select id from webhook_logs order by created_at limit 1")
    assert (await sidecar(env, "replay", str(replayed_log)))[0] == 0
    replayed_id = receiver.hits[-1].headers["webhook-id"]

    first = await sidecar(env, "--json", "recover", str(rule.id), "--since", "1h")
    assert (await sidecar(env, "run", "--once"))[0] == 0
    second = await sidecar(env, "--json", "recover", str(rule.id), "--since", "1h")
    assert (await sidecar(env, "run", "--once"))[0] == 0

    assert (first[0], json.loads(first[1])) == (0, {"requeued": 2})
    assert (second[0], json.loads(second[1])) == (0, {"requeued": 0})
    recovered = receiver.hits[4:]
    assert sorted(h.headers["webhook-id"] for h in recovered) == sorted(set(originals) - {replayed_id})
    assert all(h.body == originals[h.headers["webhook-id"]] for h in recovered)


def _verify(secret: str, hit: Hit) -> None:
    Webhook(secret).verify(hit.body, {k.lower(): v for k, v in hit.headers.items()})


async def test_both_secrets_verify_during_the_overlap_and_only_the_new_one_after(
    db: asyncpg.Connection, store: DirectStore, receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/signed"))
    old = await db.fetchval("select signing_secret from update_webhook_config($1, '{}')", rule.id)
    new = await db.fetchval("select signing_secret from update_webhook_config($1, '{\"signing_secret\": null}')",
                            rule.id)
    await insert_lead(db, rule.funnel_id)
    await run_once(store)
    during = receiver.hits[-1]

    await db.execute("update webhook_configs set previous_secret_expires_at = now() - interval '1 second'")
    await insert_lead(db, rule.funnel_id)
    await run_once(store)
    after = receiver.hits[-1]

    assert len(during.headers["webhook-signature"].split(" ")) == 2
    _verify(new, during)
    _verify(old, during)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    _verify(new, after)
    with pytest.raises(WebhookVerificationError):
        _verify(old, after)


async def test_replay_delivers_only_its_own_delivery_and_logs_the_attempt(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    assert (await sidecar(env, "run", "--once"))[0] == 0
    log_id = await db.fetchval("select id from webhook_logs")
    for _ in range(3):
        await insert_lead(db, rule.funnel_id)  # due, and nobody else delivers them

    code, out, err = await sidecar(env, "--json", "replay", str(log_id))

    assert code == 0, err
    assert json.loads(out)["status"] == "success"
    assert len(receiver.hits) == 2
    assert await db.fetchval("select count(*) from webhook_queue where status = 'pending'") == 3
    assert "attempt summary" in err and "attempts=1" in err


async def test_replay_of_a_paused_rule_says_it_is_held_and_sends_nothing(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    await insert_lead(db, rule.funnel_id)
    assert (await sidecar(env, "run", "--once"))[0] == 0
    log_id = await db.fetchval("select id from webhook_logs")
    assert (await sidecar(env, "pause", str(rule.id)))[0] == 0

    code, out, err = await sidecar(env, "--json", "replay", str(log_id))

    assert (code, json.loads(out)["held"]) == (0, True), err
    assert len(receiver.hits) == 1


async def test_pause_test_queue_cancel_and_resume_from_the_cli(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    paused = await sidecar(env, "--json", "pause", str(rule.id))
    for _ in range(2):
        await insert_lead(db, rule.funnel_id)

    queue = await sidecar(env, "--json", "queue")
    table = await sidecar(env, "queue")
    doctor = await sidecar(env, "--json", "doctor")
    tested = await sidecar(env, "--json", "test", str(rule.id))
    cancelled = await sidecar(env, "--json", "cancel", str(rule.id))
    resumed = await sidecar(env, "resume", str(rule.id))

    assert (paused[0], json.loads(paused[1])["paused_reason"]) == (0, "manual")
    assert "signing_secret" not in json.loads(paused[1])
    [held] = json.loads(queue[1])["held_by_rule"]
    assert (held["routing_rule_id"], held["held"], held["reason"]) == (str(rule.id), 2, "paused")
    assert "held deliveries" in table[1] and str(rule.id) in table[1]
    check = next(c for c in json.loads(doctor[1])["checks"] if c["name"] == "paused")
    assert check["status"] == "warn" and str(rule.id) in check["detail"]
    assert (tested[0], json.loads(tested[1])["status"]) == (0, "success"), tested[2]
    [test_hit] = receiver.hits
    assert json.loads(test_hit.body)["type"] == "webhook.test"
    assert (cancelled[0], json.loads(cancelled[1])) == (0, {"cancelled": 2})
    assert resumed[0] == 0 and "paused_at" in resumed[1]


@pytest.mark.parametrize("args", [
    ("recover", "RULE", "--since", "yesterday"),
    ("recover", "RULE", "--since", "1h", "--until", "2h"),
    ("recover", "RULE"),
    ("pause", "not-a-uuid"),
])
async def test_bad_cli_usage_exits_2_with_one_line(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver, args: tuple[str, ...]
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    code, _, err = await sidecar(env, *[str(rule.id) if a == "RULE" else a for a in args])
    assert code == 2 and len(err.strip().splitlines()) == 1, err


async def test_another_rule_id_is_not_found_and_exits_1(db: asyncpg.Connection, env: dict[str, str]) -> None:
    code, _, err = await sidecar(env, "cancel", "00000000-0000-4000-8000-000000000000")
    assert code == 1 and "not found" in err


def _windows(times: list[float]) -> list[int]:
    """For each arrival, how many arrivals fall in the one-second window it opens."""
    return [sum(1 for u in times if t <= u < t + 1.0) for t in times]


@pytest.mark.parametrize("processes", [1, 2])
async def test_a_rate_limited_rule_keeps_its_rate_across_sidecars_and_does_not_slow_another(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver, processes: int
) -> None:
    arrivals: dict[str, list[float]] = {"/slow": [], "/fast": []}

    def timed(path: str):  # noqa: ANN202
        async def answer(_: object) -> object:
            arrivals[path].append(time.monotonic())
            return await reply(200)(_)  # type: ignore[arg-type]
        return answer

    slow = await make_rule(db, receiver.script("/slow", timed("/slow")), max_requests_per_second=RATE)
    fast = await make_rule(db, receiver.script("/fast", timed("/fast")))
    started = time.monotonic()
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, $2::int)",
                     slow.funnel_id, RATE_DELIVERIES)
    await db.execute("insert into leads (funnel_id, data) select $1, '{}' from generate_series(1, $2::int)",
                     fast.funnel_id, RATE_DELIVERIES)

    async with running_sidecars({**env, "WEBHOOK_POLL_INTERVAL_MS": "50"}, processes):
        await wait_for(lambda: len(receiver.hits) >= 2 * RATE_DELIVERIES, limit_s=60)

    slow_times, fast_times = sorted(arrivals["/slow"]), sorted(arrivals["/fast"])
    assert len(slow_times) == len(fast_times) == RATE_DELIVERIES
    # A full bucket (one second's worth) goes at once; the other 25 wait 0.2 s per token.
    assert slow_times[-1] - started >= (RATE_DELIVERIES - RATE) / RATE
    # Any second holds at most the burst plus a second's refill; once the burst is spent, the rate (+1 for
    # arrival jitter at the window's edges).
    assert max(_windows(slow_times)) <= 2 * RATE
    after_burst = [t for t in slow_times if t >= slow_times[0] + 1.0]
    assert max(_windows(after_burst)) <= RATE + 1
    # The unthrottled rule is done before the throttled one is a third of the way.
    assert fast_times[-1] < slow_times[RATE_DELIVERIES // 3]


async def test_config_sets_the_new_keys_and_a_bad_value_is_refused_naming_the_field(
    db: asyncpg.Connection, env: dict[str, str], receiver: Receiver
) -> None:
    rule = await make_rule(db, receiver.url("/hook"))
    ok = await sidecar(env, "config", str(rule.id), "--auto-pause-after-failures", "5",
                       "--max-requests-per-second", "2.5", "--secret-overlap-hours", "48")
    set_row = await db.fetchrow("select * from webhook_configs where routing_rule_id = $1", rule.id)
    bad = await sidecar(env, "config", str(rule.id), "--secret-overlap-hours", "200")
    off = await sidecar(env, "config", str(rule.id), "--auto-pause-after-failures", "0",
                        "--max-requests-per-second", "0")

    assert ok[0] == 0, ok[2]
    assert (set_row["auto_pause_after_failures"], float(set_row["max_requests_per_second"])) == (5, 2.5)
    assert bad[0] == 1 and "secret_overlap_hours" in bad[2] and "Traceback" not in bad[2]
    assert off[0] == 0, off[2]
    row = await db.fetchrow("select * from webhook_configs where routing_rule_id = $1", rule.id)
    assert (row["auto_pause_after_failures"], row["max_requests_per_second"], row["secret_overlap_hours"]) == (
        None, None, 48)
