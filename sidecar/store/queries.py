"""Named SQL of the direct transport, read from sidecar/sql/queries.sql.

A query starts at a `-- name: <name>` line and runs to the next one; comment lines
are kept (Postgres ignores them), so the file reads as plain SQL.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """{name: sql} for every `-- name:` section of `text`; a repeated name is an error."""
    parts = _NAME_LINE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@cache
def queries() -> dict[str, str]:
    text = resources.files("sidecar").joinpath("sql/queries.sql").read_text(encoding="utf-8")
    return parse(text)


def query(name: str) -> str:
    return queries()[name]
