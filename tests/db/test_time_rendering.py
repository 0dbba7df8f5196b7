"""A time reads the same whether a row came back as values or as jsonb the database rendered."""

from __future__ import annotations

import asyncpg
import pytest

from sidecar.store import json_time

MOMENTS = [
    "2026-12-03 10:01:02.123450+00", "2026-12-03 10:01:02.1+00", "2026-12-03 10:01:02+00",
    "2026-12-03 10:01:02.000001+00", "2026-12-03 10:01:02.999990+00", "1999-01-01 00:00:00.5+00",
]


@pytest.mark.parametrize("moment", MOMENTS)
async def test_a_time_is_written_as_postgres_writes_it_in_json(db: asyncpg.Connection, moment: str) -> None:
    await db.execute("set time zone 'UTC'")
    value, rendered = await db.fetchrow("select $1::text::timestamptz, to_jsonb($1::text::timestamptz) #>> '{}'", moment)
    assert json_time(value) == rendered
