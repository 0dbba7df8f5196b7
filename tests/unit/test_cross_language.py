"""Rules that SQL and Python both hold are bound here: the migrations' text against the Python constants.

Each test reads the newest migration that defines the SQL side, so a later migration that
changes one copy without the other fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sidecar import retry
from sidecar.delivery import attempt as delivery
from sidecar.ops import doctor
from sidecar.store import direct, postgrest
from sidecar.store.sqlstates import TRANSIENT_SQLSTATES, is_transient_sqlstate

MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"


def newest_definition(function: str) -> str:
    """The body of the last `create or replace function` of `function`, in public or webhooks_private."""
    pattern = re.compile(rf"create or replace function (?:public|webhooks_private)\.{function}\(.*?\n\$\$;", re.DOTALL)
    found = [m.group(0) for path in sorted(MIGRATIONS.glob("*.sql")) for m in pattern.finditer(path.read_text())]
    assert found, f"no migration defines {function}"
    return found[-1]


def test_reserved_header_names_match_the_sql_check() -> None:
    body = newest_definition("webhook_headers_problem")
    listed = re.search(r"lower\(header_name\) in \((.*?)\)", body, re.DOTALL)
    assert listed is not None
    sql_names = set(re.findall(r"'([^']+)'", listed.group(1)))
    assert sql_names == set(delivery.RESERVED_HEADERS)
    assert "like 'webhook-%'" in body  # delivery._custom_headers drops webhook-* too


def test_header_name_token_regex_matches_the_sql_check() -> None:
    body = newest_definition("webhook_headers_problem")
    found = re.search(r"header_name !~ '((?:[^']|'')+)'", body)
    assert found is not None
    sql_token = re.compile(found.group(1).replace("''", "'"))
    samples = [chr(c) for c in range(0x20, 0x7F)] + ["X-Api-Key", "a b", "x:y", "ünï", "x\t", "A_b.c~"]
    for sample in samples:
        assert bool(sql_token.match(sample)) == bool(delivery._TOKEN.match(sample)), repr(sample)


def test_both_stores_use_the_one_transient_sqlstate_rule() -> None:
    assert direct._is_transient_state is is_transient_sqlstate
    assert postgrest.is_transient_sqlstate is is_transient_sqlstate
    assert {"40001", "40P01", "57P01"} <= TRANSIENT_SQLSTATES
    assert is_transient_sqlstate("08006") and not is_transient_sqlstate("23505") and not is_transient_sqlstate(None)


OCT_21_2015_0728_GMT = 1445412480.0


@pytest.mark.parametrize(
    ("value", "unix_time"),
    [("Wed, 21 Oct 2015 07:28:00 GMT", OCT_21_2015_0728_GMT),
     ("Wednesday, 21-Oct-15 07:28:00 GMT", OCT_21_2015_0728_GMT),
     ("Wed Oct 21 07:28:00 2015", OCT_21_2015_0728_GMT),
     ("Wed, 21 Oct 2015 07:28:00 +0200", OCT_21_2015_0728_GMT - 7200),
     ("Wed, 21 Oct 2015 07:28:00", OCT_21_2015_0728_GMT),  # unmarked: GMT
     ("garbage", None), ("", None), ("Wed, 32 Oct 2015 07:28:00 GMT", None)],
)
def test_date_and_retry_after_are_read_by_one_http_date_reader(value: str, unix_time: float | None) -> None:
    assert retry.http_date(value) == unix_time
    assert delivery.response_date(value) == unix_time
    assert retry.parse_retry_after(value, now=OCT_21_2015_0728_GMT - 90) == (
        None if unix_time is None else max(0.0, unix_time - OCT_21_2015_0728_GMT + 90))


def test_cron_jobs_in_doctor_match_the_migration() -> None:
    sql = "\n".join(path.read_text() for path in sorted(MIGRATIONS.glob("*.sql")))
    scheduled = dict(re.findall(r"cron\.schedule\('([^']+)',\s*'([^']+)'", sql))
    in_doctor = dict(re.findall(r"cron\.schedule\('([^']+)', '([^']+)'", doctor._CRON_SCHEDULES))
    assert in_doctor == scheduled
    assert set(doctor.CRON_JOBS) == set(scheduled)


def test_max_attempts_formula_is_the_same_in_both_sql_places() -> None:
    formula = re.compile(r"case when (?:coalesce\()?c\.retry_enabled(?:, true\))? then "
                         r"(?:coalesce\()?c\.max_retries(?:, 3\))? \+ 1 else 1 end")
    assert formula.search(newest_definition("webhook_max_attempts"))
    assert formula.search(newest_definition("webhook_enqueue_new_leads"))


def _column_defaults() -> dict[str, str]:
    table = re.search(r"create table public\.webhook_configs \((.*?)\n\);",
                      (MIGRATIONS / "20261129000200_webhook_tables.sql").read_text(), re.DOTALL)
    assert table is not None
    return dict(re.findall(r"^\s+(\w+) \w+ not null default ([\d.]+|true|false),?$", table.group(1), re.MULTILINE))


def test_config_defaults_are_the_same_in_the_table_and_in_update_webhook_config() -> None:
    defaults = _column_defaults()
    assert defaults == {"timeout_ms": "10000", "retry_enabled": "true", "max_retries": "3",
                        "retry_delay_ms": "1000", "retry_backoff_multiplier": "2.0"}
    body = newest_definition("update_webhook_config")
    for column, value in defaults.items():
        restored = re.search(rf"{column} = case when patch \? '{column}'\s+then coalesce\(\(patch ->> '{column}'\)"
                             rf"[:\w]*, ([\d.]+|true)\)", body)
        assert restored is not None and restored.group(1) == value, column


def test_max_attempts_fallbacks_follow_the_max_retries_default() -> None:
    default_attempts = int(_column_defaults()["max_retries"]) + 1
    assert re.search(rf"\),\s*{default_attempts}\)\s*\$\$", newest_definition("webhook_max_attempts"))
    queue = (MIGRATIONS / "20261129000200_webhook_tables.sql").read_text()
    assert f"max_attempts integer not null default {default_attempts}," in queue
