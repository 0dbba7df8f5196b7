"""The values that flow between the store, delivery, retry and the worker.

They are never changed once made, but are not frozen dataclasses: a frozen one's
__init__ sets each field through object.__setattr__, ~1 us more per Job, and
three of these are made per delivery.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, NewType
from uuid import UUID

QueueId = NewType("QueueId", UUID)
LogId = NewType("LogId", UUID)

ErrorType = Literal["timeout", "network", "http_error", "invalid_response", "blocked"]
LogStatus = Literal["pending", "success", "failed", "retrying"]
QueueStatus = Literal["pending", "processing", "completed", "failed"]
# The verdict on one attempt (sidecar/worker/decide.py), applied by record_webhook_attempts.
AttemptStatus = Literal["success", "retrying", "failed"]


@dataclass(slots=True)
class Job:
    """One claimed delivery: a row of `claim_webhook_jobs` (docs/internal-rpc.md)."""

    queue_id: UUID
    webhook_id: UUID
    lead_id: UUID
    routing_rule_id: UUID
    attempt_number: int
    max_attempts: int
    payload: str
    webhook_url: str
    custom_headers: dict[str, str]
    timeout_ms: int
    retry_enabled: bool
    retry_delay_ms: int
    retry_backoff_multiplier: float
    signing_secret: str
    claimed_at: float | None = None  # unix time of the claim by the database's clock
    received_at: float = 0.0  # time.monotonic() when the claim's answer arrived
    previous_signing_secret: str | None = None  # the replaced secret while its overlap lasts

    def now(self) -> float:
        """Unix time now by the database's clock (this host's when the claim did not say)."""
        if self.claimed_at is None:
            return time.time()
        return self.claimed_at + (time.monotonic() - self.received_at)


@dataclass(slots=True)
class Outcome:
    """What one HTTP attempt did. Remote faults are values here, never exceptions."""

    request_headers: dict[str, str]
    duration_ms: int
    ended_at: float  # time.monotonic() when the attempt ended
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error_type: ErrorType | None = None
    error_message: str | None = None
    retry_after_s: float | None = None  # parsed Retry-After of a 429/503, if any

    @property
    def success(self) -> bool:
        return self.error_type is None and self.status is not None and 200 <= self.status < 300


@dataclass(slots=True)
class AttemptResult:
    """One element of `record_webhook_attempts(results)` (docs/internal-rpc.md)."""

    job: Job
    worker_id: str
    outcome: Outcome
    retry_in_ms: int | None
    log_id: UUID | str | None = None  # drawn once per attempt: a result sent again is not logged again
    first_send: bool = False  # never sent before, so the database need not look for its log_id
    status: AttemptStatus | None = None  # the Decision; None leaves the verdict to the database's old rules
