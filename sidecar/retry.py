"""Retry policy: when the next attempt of a delivery is due, and retries of our own DB calls.

Both are built from tenacity's stop and wait primitives, evaluated on a synthetic
RetryCallState for deliveries (the queue, not a loop, does the waiting there).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from sidecar.domain import ErrorType

JITTER_FRACTION = 0.10
RETRY_AFTER_CAP_S = 3600.0


class UniformSource(Protocol):
    """Anything with random.uniform's signature: the random module, a seeded Random."""

    def uniform(self, a: float, b: float) -> float: ...


def retry_delay_ms(
    attempt_number: int,
    max_attempts: int,
    outcome_error_type: ErrorType | None,
    retry_after_s: float | None,
    *,
    retry_enabled: bool,
    retry_delay_ms: int,
    multiplier: float,
    rng: UniformSource = random,
) -> int | None:
    """Milliseconds from the end of failed attempt n until attempt n+1, or None if n is final.

    Final when the attempt succeeded (error type None), was `blocked`, retries are
    off, or n >= max_attempts. Otherwise, with d = retry_delay_ms and m = multiplier:

        base   = d * m ** (n - 1)                 (1 s, 2 s, 4 s for d=1000, m=2)
        delay  = base + U(0, 0.10 * base)         (jitter only ever adds, at most 10 %)
        result = max(delay, min(retry_after_s, 3600) * 1000)   when Retry-After was given

    rounded up to a whole millisecond.
    """
    if _is_final(attempt_number, max_attempts, outcome_error_type, retry_enabled):
        return None
    state = _synthetic_state(attempt_number)
    base_s = wait_exponential(multiplier=retry_delay_ms / 1000, exp_base=multiplier)(state)
    delay_s = base_s + rng.uniform(0.0, JITTER_FRACTION * base_s)
    if retry_after_s is not None:
        delay_s = max(delay_s, min(max(retry_after_s, 0.0), RETRY_AFTER_CAP_S))
    return math.ceil(delay_s * 1000)


def _is_final(
    attempt_number: int, max_attempts: int, error_type: ErrorType | None, enabled: bool
) -> bool:
    if error_type is None or error_type == "blocked" or not enabled:
        return True
    return stop_after_attempt(max_attempts)(_synthetic_state(attempt_number))


def _synthetic_state(attempt_number: int) -> RetryCallState:
    state = RetryCallState(retry_object=AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt_number
    return state


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    return _seconds_until_date(text, time.time() if now is None else now)


def _seconds_until_date(text: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # HTTP-dates are GMT even when unmarked
    return max(0.0, when.timestamp() - now)


def db_retrying(
    is_transient: Callable[[BaseException], bool],
    *,
    initial_s: float = 0.1,
    max_wait_s: float = 5.0,
    give_up_after_s: float | None = None,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """Retry transient database errors: waits 0.1 s, 0.2 s, … capped at 5 s, plus up to 0.5 s.

    The random part keeps several workers that lost the database together from
    reconnecting in lockstep.

    Usage: `async for attempt in db_retrying(is_transient): with attempt: ...`.
    Retries forever unless `give_up_after_s` is given; a non-transient error is raised at once.
    """
    stop: stop_base = stop_never if give_up_after_s is None else stop_after_delay(give_up_after_s)
    return AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=initial_s, max=max_wait_s)
        + wait_random(0, max_wait_s * JITTER_FRACTION),
        stop=stop,
        before_sleep=before_sleep,
        reraise=True,
    )
