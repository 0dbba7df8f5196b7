"""Leads, a rule and a funnel deleted while their deliveries are in flight, under another tenant's load.

Their late results have nothing left to be recorded on and are dropped; the other
tenant's deliveries keep being recorded as they happen: none sent twice at a lease
expiry, none lost, /healthz ok, and SIGTERM still records everything.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import asyncpg
import pytest

from sidecar.ops.embedded import free_port
from tests.faults.harness import seed_leads, seed_rule, start_sidecar, wait_until
from tests.faults.receiver import ChaosReceiver, Mode, always

pytestmark = pytest.mark.faults

SURVIVOR_DELIVERIES = 2000
VICTIM_DELIVERIES = 300  # per victim: leads, a rule, a funnel
LATENCY_S = 0.2


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _in_flight(db: asyncpg.Connection, rule_id: object) -> int:
    return int(await db.fetchval(
        "select count(*) from public.webhook_queue where routing_rule_id = $1 and status = 'processing'", rule_id))


async def test_deleting_leads_a_rule_and_a_funnel_mid_flight_stalls_no_one_else(
    db: asyncpg.Connection, fault_dsn: str, tmp_path: Path
) -> None:
    with ChaosReceiver(always(Mode.SLOW), slow_s=LATENCY_S) as receiver:
        survivor = await seed_rule(db, receiver.url("/survivor"), timeout_ms=2000)
        victims = [await seed_rule(db, receiver.url(f"/victim-{i}"), timeout_ms=2000) for i in range(3)]
        for victim in victims:
            await seed_leads(db, victim, VICTIM_DELIVERIES)
        await seed_leads(db, survivor, SURVIVOR_DELIVERIES)
        # Interleaved in claim order, so every tenant has deliveries in flight at once.
        await db.execute("update public.webhook_queue set scheduled_at = now() - random() * interval '1 minute'")
        port = free_port()
        sidecar = await start_sidecar(
            fault_dsn, tmp_path, "deletes", WEBHOOK_CONCURRENCY="100", WEBHOOK_PER_HOST_CONCURRENCY="100",
            WEBHOOK_METRICS_PORT=str(port), WEBHOOK_LEASE_SECONDS="20")

        async def victims_in_flight() -> bool:
            assert sidecar.alive, sidecar.tail()
            return all([await _in_flight(db, v.id) > 0 for v in victims])
        await wait_until(victims_in_flight, 60, "deliveries of every victim in flight")
        leads, rule, funnel = victims
        await db.execute("delete from public.leads where funnel_id = $1", leads.funnel_id)
        await db.execute("delete from public.routing_rules where id = $1", rule.id)
        await db.execute("delete from public.funnels where id = $1", funnel.funnel_id)

        async def survivor_done() -> bool:
            assert sidecar.alive, sidecar.tail()
            return int(await db.fetchval(
                "select count(*) from public.webhook_queue where routing_rule_id = $1"
                " and status not in ('completed', 'failed')", survivor.id)) == 0
        # Well inside the 20 s lease: a stalled recorder shows up as requests sent twice, or a timeout here.
        await wait_until(survivor_done, 60, "every delivery of the other tenant to be recorded")
        health = _get(f"http://127.0.0.1:{port}/healthz")
        metrics = _get(f"http://127.0.0.1:{port}/metrics")[1]
        assert await sidecar.terminate() == 0, sidecar.tail()

        hits = [h for h in receiver.hits() if h.path == "/survivor"]
        survivor_logs = await db.fetchval(
            "select count(*) from public.webhook_logs where routing_rule_id = $1 and status = 'success'", survivor.id)
        survivor_completed = await db.fetchval(
            "select count(*) from public.webhook_queue where routing_rule_id = $1 and status = 'completed'",
            survivor.id)
        victims_left = await db.fetchval(
            "select count(*) from public.webhook_queue where routing_rule_id = any($1::uuid[])",
            [v.id for v in victims])

    assert (survivor_completed, survivor_logs, len(hits)) == (SURVIVOR_DELIVERIES,) * 3
    assert len({h.webhook_id for h in hits}) == SURVIVOR_DELIVERIES
    assert victims_left == 0
    assert health == (200, "ok\n")
    dropped = [line for line in metrics.splitlines()
               if line.startswith('webhook_results_dropped_total{reason="delivery_gone"}')]
    assert dropped and float(dropped[0].split()[-1]) > 0, metrics
    text = sidecar.text()
    assert "0 unrecorded" in text and "Traceback" not in text, sidecar.tail(60)
    assert "dropped: its delivery no longer exists" in text
