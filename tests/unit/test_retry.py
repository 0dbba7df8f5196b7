"""The delivery retry policy (sidecar/worker/decide.py), Retry-After parsing and the database retry helper."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from sidecar.domain import ErrorType, Outcome
from sidecar.retry import db_retrying, parse_retry_after
from sidecar.worker.decide import decide
from tests.unit.test_worker import make_job


class Fixed:
    """A jitter source that always draws the same fraction of the allowed range."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.fraction


def delay(
    n: int,
    error: ErrorType | None = "http_error",
    retry_after: float | None = None,
    *,
    max_attempts: int = 4,
    enabled: bool = True,
    base: int = 1000,
    mult: float = 2.0,
    jitter: float = 0.0,
) -> int | None:
    return decide(_job(n, max_attempts, enabled, base, mult), _outcome(error, retry_after), Fixed(jitter)).retry_in_ms


def _job(n: int, max_attempts: int = 5, enabled: bool = True, base: int = 1000, mult: float = 2.0):  # type: ignore[no-untyped-def]
    return make_job(attempt_number=n, max_attempts=max_attempts, retry_enabled=enabled, retry_delay_ms=base,
                    retry_backoff_multiplier=mult)


def _outcome(error: ErrorType | None, retry_after: float | None = None) -> Outcome:
    return Outcome(request_headers={}, duration_ms=1, ended_at=0.0, status=200 if error is None else 503,
                   error_type=error, retry_after_s=retry_after)


def test_defaults_give_one_two_four_seconds_without_jitter() -> None:
    assert [delay(n) for n in (1, 2, 3)] == [1000, 2000, 4000]


def test_last_attempt_is_final() -> None:
    assert delay(4, max_attempts=4) is None
    assert delay(5, max_attempts=4) is None


def test_single_attempt_is_final() -> None:
    assert delay(1, max_attempts=1) is None


def test_formula_uses_config_delay_and_multiplier() -> None:
    assert delay(3, base=250, mult=3.0, max_attempts=10) == 250 * 9
    assert delay(4, base=500, mult=1.5, max_attempts=10) == 1688  # 1687.5 rounded up


def test_full_jitter_adds_exactly_ten_percent() -> None:
    assert delay(2, jitter=1.0) == 2200


def test_jitter_stays_within_zero_to_ten_percent_over_many_draws() -> None:
    rng = random.Random(1234)
    draws = [
        decide(_job(2), _outcome("timeout"), rng).retry_in_ms
        for _ in range(5000)
    ]
    assert all(d is not None and 2000 <= d <= 2200 for d in draws)
    assert min(d for d in draws if d) < 2020 and max(d for d in draws if d) > 2180


def test_jitter_uses_the_module_random_by_default() -> None:
    d = decide(_job(1, 3), _outcome("network")).retry_in_ms
    assert d is not None and 1000 <= d <= 1100


@pytest.mark.parametrize("error", ["timeout", "network", "http_error", "invalid_response"])
def test_every_failure_but_blocked_is_retried(error: ErrorType) -> None:
    assert delay(1, error) == 1000


def test_success_is_final() -> None:
    assert delay(1, None) is None


def test_blocked_is_never_retried() -> None:
    assert delay(1, "blocked", max_attempts=10) is None


def test_retry_disabled_is_final() -> None:
    assert delay(1, enabled=False, max_attempts=10) is None


def test_retry_after_is_a_minimum() -> None:
    assert delay(1, retry_after=30) == 30_000


def test_retry_after_shorter_than_backoff_does_not_shorten_it() -> None:
    assert delay(3, retry_after=1) == 4000


def test_retry_after_is_capped_at_one_hour() -> None:
    assert delay(1, retry_after=86_400) == 3_600_000


def test_retry_after_does_not_make_a_final_attempt_retry() -> None:
    assert delay(4, retry_after=5, max_attempts=4) is None


def test_retry_after_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    value = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(value, now=now.timestamp()) == 90.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=2_000_000_000) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Funday, 99 Foo 2015"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


class Transient(Exception):
    pass


async def test_db_retrying_retries_transient_errors_then_succeeds() -> None:
    calls = 0
    async for attempt in db_retrying(lambda e: isinstance(e, Transient), initial_s=0.001, max_wait_s=0.001):
        with attempt:
            calls += 1
            if calls < 3:
                raise Transient()
    assert calls == 3


async def test_db_retrying_raises_other_errors_at_once() -> None:
    calls = 0
    with pytest.raises(KeyError):
        async for attempt in db_retrying(lambda e: isinstance(e, Transient), initial_s=0.001):
            with attempt:
                calls += 1
                raise KeyError("x")
    assert calls == 1


def test_db_retrying_waits_grow_and_are_capped() -> None:
    from tenacity import RetryCallState

    retrying = db_retrying(lambda e: True)
    waits = []
    for n in (1, 2, 3, 10):
        state = RetryCallState(retry_object=retrying, fn=None, args=(), kwargs={})
        state.attempt_number = n
        waits.append(retrying.wait(state))
    assert 0.1 <= waits[0] <= 0.6 and 0.2 <= waits[1] <= 0.7 and 0.4 <= waits[2] <= 0.9
    assert 5.0 <= waits[3] <= 5.5
