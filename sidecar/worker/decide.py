"""What happens after an attempt: the one owner of the retry verdict and its timing.

The database applies the decision (`record_webhook_attempts`, which refuses an
impossible one) and never makes its own; the log line and the metrics report the
status the database wrote.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from sidecar.domain import AttemptStatus, Job, Outcome

JITTER_FRACTION = 0.10
RETRY_AFTER_CAP_S = 3600.0
# 30 days. supabase/migrations/20261202100000_record_delay_cap.sql clamps to the same
# value (webhooks_private.webhook_max_retry_delay_ms()); tests/db/test_retry_cap.py binds the two.
MAX_RETRY_DELAY_MS = 30 * 24 * 3600 * 1000


class UniformSource(Protocol):
    """Anything with random.uniform's signature: the random module, a seeded Random."""

    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The attempt's log status and, when `retrying`, milliseconds from its end to the next attempt."""

    status: AttemptStatus
    retry_in_ms: int | None = None


FINAL_FAILURE = Decision("failed")
SUCCESS = Decision("success")  # frozen: one value serves every successful attempt


def decide(job: Job, outcome: Outcome, rng: UniformSource = random) -> Decision:
    """The verdict on attempt n = job.attempt_number of `job`, which ended with `outcome`.

    - a 2xx: `success`;
    - `blocked`, retries off (`retry_enabled` false), or n >= max_attempts: `failed`;
    - otherwise `retrying`, with d = retry_delay_ms, m = retry_backoff_multiplier:

          base  = d * m ** (n - 1)                       (1 s, 2 s, 4 s for d=1000, m=2)
          delay = base + U(0, 0.10 * base)               (jitter only ever adds, at most 10 %)
          delay = max(delay, min(retry_after_s, 3600) * 1000)
                                                         (Retry-After of a 429/503: a minimum, up to 1 h)
          retry_in_ms = ceil(min(delay, MAX_RETRY_DELAY_MS))   (30 days, after jitter and Retry-After)
    """
    if outcome.success:
        return SUCCESS
    if outcome.error_type == "blocked" or not job.retry_enabled or job.attempt_number >= job.max_attempts:
        return FINAL_FAILURE
    return Decision("retrying", retry_delay_ms(job, outcome.retry_after_s, rng))


def retry_delay_ms(job: Job, retry_after_s: float | None, rng: UniformSource = random) -> int:
    """The `retrying` delay of `decide`'s formula."""
    base = _base_ms(job.retry_delay_ms, job.retry_backoff_multiplier, job.attempt_number)
    if base >= MAX_RETRY_DELAY_MS:
        return MAX_RETRY_DELAY_MS  # jitter only adds, so the cap decides; no float infinity downstream
    delay = base + rng.uniform(0.0, JITTER_FRACTION * base)
    if retry_after_s is not None:
        delay = max(delay, min(max(retry_after_s, 0.0), RETRY_AFTER_CAP_S) * 1000)
    return math.ceil(min(delay, MAX_RETRY_DELAY_MS))


def _base_ms(delay_ms: float, multiplier: float, attempt_number: int) -> float:
    try:
        return delay_ms * multiplier ** max(attempt_number - 1, 0)
    except OverflowError:
        return math.inf
