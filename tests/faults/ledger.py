"""The ledger check every fault scenario ends with: the receiver's record against the database's.

Rules (docs/faults.md):
- every delivery reached its receiver at least once with its webhook-id (else it is lost);
- every queue row ended `completed` or `failed`: none `processing`, none `pending`;
- duplicates, the requests beyond the attempts the queue made (sum of each row's
  final attempt_number), are no more than the attempts in flight when the fault hit;
- each log row matches a request of its own that the receiver saw for that webhook-id,
  with the same answer: a success log, a 2xx; an http_error log, that status; any
  other failure, no complete answer. With `exact`, the two agree one for one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from tests.faults.receiver import Hit


@dataclass(frozen=True, slots=True)
class Figures:
    """What one scenario run reports for the results table."""

    fault: str
    deliveries: int
    attempts_logged: int
    requests_received: int
    lost: int
    duplicates: int
    in_flight_at_fault: int


FIGURES: list[Figures] = []


def figures_table() -> str:
    """Markdown rows, one per fault, summing its runs."""
    rows: dict[str, list[Figures]] = defaultdict(list)
    for figures in FIGURES:
        rows[figures.fault].append(figures)
    lines = ["| fault | runs | deliveries | requests received | attempts logged | in flight at the fault "
             "| lost | duplicates |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for fault, runs in rows.items():
        lines.append(
            f"| {fault} | {len(runs)} | {sum(r.deliveries for r in runs)} | "
            f"{sum(r.requests_received for r in runs)} | {sum(r.attempts_logged for r in runs)} | "
            f"{sum(r.in_flight_at_fault for r in runs)} | {sum(r.lost for r in runs)} | "
            f"{sum(r.duplicates for r in runs)} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class _Log:
    webhook_id: str
    attempt_number: int
    status: str
    error_type: str | None
    response_status: int | None


def _expected_answer(log: _Log) -> str:
    if log.status == "success":
        return "2xx"
    if log.error_type == "http_error":
        return str(log.response_status)
    return "none"


def _answer_of(hit: Hit) -> str:
    status = hit.answered
    if status is None:
        return "none"
    return "2xx" if 200 <= status < 300 else str(status)


def unmatched_logs(logs: Sequence[_Log], hits: Sequence[Hit]) -> list[_Log]:
    """Log rows with no request of their own, with the same answer, on the receiver's side."""
    available: dict[str, Counter[str]] = defaultdict(Counter)
    for hit in hits:
        available[hit.webhook_id][_answer_of(hit)] += 1
    missing = []
    for log in logs:
        answers = available[log.webhook_id]
        expected = _expected_answer(log)
        if answers[expected] > 0:
            answers[expected] -= 1
        else:
            missing.append(log)
    return missing


async def _logs(db: asyncpg.Connection) -> list[_Log]:
    rows = await db.fetch(
        "select webhook_id::text, attempt_number, status::text, error_type::text, response_status"
        " from public.webhook_logs order by webhook_id, attempt_number, created_at")
    return [_Log(r["webhook_id"], r["attempt_number"], r["status"], r["error_type"], r["response_status"])
            for r in rows]


async def check_ledger(
    db: asyncpg.Connection, hits: Sequence[Hit], fault: str, *,
    in_flight_at_fault: int = 0, exact: bool = False,
) -> Figures:
    """Assert the ledger rules above; record and return the scenario's figures."""
    queue = await db.fetch("select webhook_id::text, status::text, attempt_number from public.webhook_queue")
    logs = await _logs(db)
    received = Counter(h.webhook_id for h in hits)

    unfinished = [r for r in queue if r["status"] not in ("completed", "failed")]
    never_reached = [r for r in queue if received[r["webhook_id"]] == 0]
    lost = len({r["webhook_id"] for r in unfinished} | {r["webhook_id"] for r in never_reached})
    attempts_made = sum(int(r["attempt_number"]) for r in queue)
    duplicates = len(hits) - attempts_made
    figures = Figures(fault, len(queue), len(logs), len(hits), lost, max(duplicates, 0), in_flight_at_fault)
    FIGURES.append(figures)

    statuses = Counter(r["status"] for r in unfinished)
    assert not unfinished, f"{len(unfinished)} deliveries did not end: {dict(statuses)}"
    assert not never_reached, f"{len(never_reached)} deliveries never reached the receiver"
    strangers = set(received) - {r["webhook_id"] for r in queue}
    assert not strangers, f"the receiver saw webhook-ids the queue does not know: {sorted(strangers)[:3]}"
    assert duplicates >= 0, f"{-duplicates} attempts counted by the queue never reached the receiver"
    assert duplicates <= in_flight_at_fault, (
        f"{duplicates} duplicate requests, more than the {in_flight_at_fault} attempts in flight at the fault")
    twice_logged = [key for key, n in Counter((g.webhook_id, g.attempt_number) for g in logs).items() if n > 1]
    missing = unmatched_logs(logs, hits)
    assert not missing, (f"{len(missing)} log rows disagree with the receiver, e.g. {missing[:3]}; "
                         f"attempts logged twice: {twice_logged[:3]}")
    if exact:
        assert len(logs) == len(hits), f"{len(logs)} log rows for {len(hits)} requests received"
    return figures


async def check_refused_or_failed(db: asyncpg.Connection, hits: Sequence[Hit], fault: str) -> Figures:
    """The bad-input ledger: every delivery ended, each with its attempts logged; none reached twice.

    Deliveries to unusable URLs never reach a receiver, so they count as lost only
    when they did not end or left no log row saying why.
    """
    queue = await db.fetch(
        "select q.webhook_id::text, q.status::text, q.attempt_number,"
        " (select count(*) from public.webhook_logs l where l.queue_id = q.id) as logged"
        " from public.webhook_queue q")
    stuck = [r for r in queue if r["status"] not in ("completed", "failed") or r["logged"] != r["attempt_number"]]
    twice = [k for k, n in Counter((h.webhook_id, h.path) for h in hits).items() if n > 1]
    figures = Figures(fault, len(queue), sum(int(r["logged"]) for r in queue), len(hits), len(stuck),
                      len(twice), 0)
    FIGURES.append(figures)
    assert not stuck, f"{len(stuck)} deliveries of bad input did not end with every attempt logged: {stuck[:3]}"
    assert not twice, f"bad input was delivered twice: {twice[:3]}"
    return figures
