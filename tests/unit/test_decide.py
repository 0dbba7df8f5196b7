"""decide(): one status and a bounded delay for every outcome, attempt position and config."""

from __future__ import annotations

import math
import random

import pytest

from sidecar.domain import ErrorType, Outcome
from sidecar.worker.decide import MAX_RETRY_DELAY_MS, RETRY_AFTER_CAP_S, Decision, decide
from tests.unit.test_worker import make_job

OUTCOMES: dict[str, tuple[int | None, ErrorType | None, float | None]] = {
    "2xx": (200, None, None),
    "http_error": (500, "http_error", None),
    "429 with Retry-After 120": (429, "http_error", 120.0),
    "503 with Retry-After 2 days": (503, "http_error", 172_800.0),
    "timeout": (None, "timeout", None),
    "network": (None, "network", None),
    "invalid_response": (None, "invalid_response", None),
    "blocked": (None, "blocked", None),
}
POSITIONS = {"first of 4": (1, 4), "middle of 4": (2, 4), "last of 4": (4, 4), "past the last": (5, 4),
             "only one": (1, 1)}
CONFIGS = {"defaults": (True, 1000, 2.0), "retry off": (False, 1000, 2.0),
           "largest allowed": (True, 86_400_000, 10.0)}


def outcome(kind: str) -> Outcome:
    status, error, retry_after = OUTCOMES[kind]
    return Outcome(request_headers={}, duration_ms=5, ended_at=0.0, status=status, error_type=error,
                   retry_after_s=retry_after)


def expected(kind: str, n: int, max_attempts: int, enabled: bool, d: int, m: float) -> tuple[str, float, float]:
    """Status and the delay's bounds, from the formula in the contract (DESIGN.md, README)."""
    if kind == "2xx":
        return "success", 0, 0
    if kind == "blocked" or not enabled or n >= max_attempts:
        return "failed", 0, 0
    base = d * m ** (n - 1)
    low, high = base, base * 1.1
    retry_after = OUTCOMES[kind][2]
    if retry_after is not None:
        floor = min(retry_after, 3600) * 1000
        low, high = max(low, floor), max(high, floor)
    return "retrying", min(low, MAX_RETRY_DELAY_MS), min(math.ceil(high), MAX_RETRY_DELAY_MS)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("kind", OUTCOMES)
def test_the_decision_table(kind: str, position: str, config: str) -> None:
    n, max_attempts = POSITIONS[position]
    enabled, d, m = CONFIGS[config]
    job = make_job(attempt_number=n, max_attempts=max_attempts, retry_enabled=enabled, retry_delay_ms=d,
                   retry_backoff_multiplier=m)
    status, low, high = expected(kind, n, max_attempts, enabled, d, m)

    for seed in range(20):
        decision = decide(job, outcome(kind), random.Random(seed))
        assert decision.status == status
        if status == "retrying":
            assert decision.retry_in_ms is not None and low <= decision.retry_in_ms <= high
        else:
            assert decision.retry_in_ms is None


@pytest.mark.parametrize("n", [1, 5, 9, 10, 11, 20, 21, 10_000])
def test_the_largest_allowed_config_never_waits_past_30_days(n: int) -> None:
    job = make_job(attempt_number=n, max_attempts=n + 1, retry_delay_ms=86_400_000, retry_backoff_multiplier=10.0)

    decision = decide(job, outcome("http_error"))

    assert decision.status == "retrying"
    assert decision.retry_in_ms is not None and 0 < decision.retry_in_ms <= MAX_RETRY_DELAY_MS
    if n >= 3:  # 86.4 M ms x 10^2 is already past 30 days
        assert decision.retry_in_ms == MAX_RETRY_DELAY_MS


def test_the_cap_applies_after_jitter_and_retry_after() -> None:
    just_under = MAX_RETRY_DELAY_MS * 0.95  # + 10 % jitter would pass the cap
    job = make_job(attempt_number=1, max_attempts=3, retry_delay_ms=int(just_under))

    class Full:
        def uniform(self, a: float, b: float) -> float:
            return b

    assert decide(job, outcome("http_error"), Full()).retry_in_ms == MAX_RETRY_DELAY_MS
    assert RETRY_AFTER_CAP_S * 1000 < MAX_RETRY_DELAY_MS


def test_a_decision_is_a_status_and_a_delay() -> None:
    assert decide(make_job(), outcome("2xx")) == Decision("success", None)
