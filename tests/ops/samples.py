"""Jobs and outcomes shaped like the worker's, for driving listeners without a database."""

from __future__ import annotations

from uuid import UUID, uuid4

from sidecar.domain import ErrorType, Job, Outcome


def make_job(url: str = "https://hooks.example.com/in?token=s3cret", attempt: int = 1, max_attempts: int = 4) -> Job:
    return Job(
        queue_id=uuid4(),
        webhook_id=uuid4(),
        lead_id=uuid4(),
        routing_rule_id=UUID("5b1f0c8e-8f7a-4d43-9b5e-2f8a6c1d0e11"),
        attempt_number=attempt,
        max_attempts=max_attempts,
        payload='{"type":"lead.created"}',
        webhook_url=url,
        custom_headers={},
        timeout_ms=10_000,
        retry_enabled=True,
        retry_delay_ms=1000,
        retry_backoff_multiplier=2.0,
        signing_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )


def success(duration_ms: int = 12, status: int = 200) -> Outcome:
    return Outcome(request_headers={}, duration_ms=duration_ms, ended_at=0.0, status=status)


def failure(error_type: ErrorType = "http_error", status: int | None = 500, duration_ms: int = 40) -> Outcome:
    message = f"HTTP {status}: Internal Server Error" if error_type == "http_error" else f"{error_type} error"
    return Outcome(
        request_headers={}, duration_ms=duration_ms, ended_at=0.0, status=status,
        error_type=error_type, error_message=message,
    )
