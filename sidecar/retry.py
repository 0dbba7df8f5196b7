"""Retries of our own database calls (tenacity), and reading a receiver's Retry-After.

When a delivery's next attempt is due is decided in sidecar/worker/decide.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timezone

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

JITTER_FRACTION = 0.10  # of our own backoff between database calls


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP-date; None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    return _seconds_until_date(text, time.time() if now is None else now)


def http_date(text: str) -> float | None:
    """An HTTP-date (Retry-After, Date) as a unix time; None if unusable. The one reader of both."""
    from email.utils import parsedate_to_datetime  # on use: only 429/503 answers are read for dates

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # HTTP-dates are GMT even when unmarked
    return when.timestamp()


def _seconds_until_date(text: str, now: float) -> float | None:
    when = http_date(text)
    return None if when is None else max(0.0, when - now)


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
