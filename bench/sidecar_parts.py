"""CPU of one attempt's Python parts, without a network: `python bench/sidecar_parts.py [TREE]`.

TREE is a checkout whose `sidecar/` is measured (default: this one), e.g. a worktree of
main beside this branch; run the two one after the other under `flock /work/bench.lock`,
twice, and compare within one run. Prints, per part, the fastest of 9 loops in µs of
process CPU (the least disturbed by whatever else the machine runs). The payload has the shape of the user path's ~1 KB leads
(bench/scenarios/data.py, LEAD_KB_DATA_SQL) in jsonb's key order.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

TREE = str(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve())
sys.path.insert(0, TREE)

import asyncpg.pgproto.pgproto as pgproto  # noqa: E402

from sidecar.delivery import attempt, http1  # noqa: E402
from sidecar.delivery.payload import compact_jsonb_text  # noqa: E402
from sidecar.domain import AttemptResult, Job  # noqa: E402
from sidecar.store import direct, result_element  # noqa: E402

LEAD = {
    "email": "lead1234@example.com", "name": "Ada Lovelace 1234", "phone": "+44 20 7946 1234",
    "company": "Analytical Engines Ltd", "job_title": "Head of Revenue Operations",
    "address": {"line1": "12 Marylebone High Street", "city": "London", "postcode": "W1U 4NR", "country": "GB"},
    "message": "Interested in the premium plan for our sales team of twelve; please call after 3pm on a weekday, "
               "or email with a quote and the onboarding timeline. We currently use spreadsheets and would like "
               "to import about 4,000 existing contacts.",
    "answers": [{"question": "How many seats do you need?", "answer": "10-25"},
                {"question": "When do you want to start?", "answer": "Within a month"},
                {"question": "Which CRM do you use today?", "answer": "None"}],
    "utm": {"source": "newsletter", "medium": "email", "campaign": "spring-launch", "content": "hero-cta",
            "term": "crm for small teams"},
    "page_url": "https://www.example.com/pricing?plan=premium&utm_source=newsletter",
    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  "Version/17.4 Safari/605.1.15",
    "ip": "203.0.113.4", "consent": True,
}
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 13:40:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")


def jsonb_order(value: Any) -> Any:
    """Keys as jsonb stores them: shorter first, then bytewise."""
    if isinstance(value, dict):
        return {k: jsonb_order(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(value, list):
        return [jsonb_order(v) for v in value]
    return value


def fastest_us(fn: Callable[[], object], loops: int, per: int = 1) -> float:
    fn()
    samples = []
    for _ in range(9):
        started = time.process_time()
        for _ in range(loops):
            fn()
        samples.append((time.process_time() - started) / loops / per * 1e6)
    return min(samples)


def main() -> None:
    assert attempt.__file__ is not None and attempt.__file__.startswith(TREE), attempt.__file__
    payload = json.dumps(jsonb_order({"event": "lead.created", "lead_id": str(uuid.uuid4()), "data": LEAD}),
                         ensure_ascii=False)

    def new_id() -> uuid.UUID:
        return pgproto.UUID(str(uuid.uuid4()))  # what asyncpg hands out

    job = Job(new_id(), new_id(), new_id(), new_id(), 1, 4, payload, "http://127.0.0.1:8080/hook", {}, 10_000,
              True, 1000, 2.0, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", time.time(), time.monotonic(), None)
    deliverer = attempt.Deliverer(allow_private_targets=True)
    prepared = deliverer._prepare(job)
    assert isinstance(prepared, tuple)
    body, headers, exchange = prepared

    def response() -> object:
        parsed = exchange.response = http1.Response(65536, attempt._PICKED)
        parsed.feed(RESPONSE)
        return exchange.finished()

    outcome = exchange.finished() if response() else None
    assert outcome is not None
    results = [AttemptResult(job, "w1", outcome, None, str(uuid.uuid4()), first_send=True, status="success")
               for _ in range(100)]
    encode = getattr(direct, "_record_argument", None)

    def record() -> bytes:
        return direct._jsonb_encode(encode(results) if encode else [result_element(r) for r in results])

    parts = {
        "compact": fastest_us(lambda: compact_jsonb_text(payload), 5000),
        "prepare": fastest_us(lambda: deliverer._prepare(job), 5000),
        "request bytes": fastest_us(lambda: http1.encode_request(attempt.target_url(job.webhook_url), headers, body),
                                   5000),
        "response parse + outcome": fastest_us(response, 5000),
        "record element + encoding, per result": fastest_us(record, 100, 100),
    }
    print(json.dumps({k: round(v, 2) for k, v in parts.items()}))


if __name__ == "__main__":
    main()
