"""Output of the CLI: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sidecar.jsondepth import clip

MAX_CELL = 60
_ISO_MOMENT = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?")


def moment(value: Any, millis: bool = False) -> str:
    """A timestamp as `YYYY-MM-DD HH:MM:SS[.mmm]`; one outside that shape ('infinity',
    year 20000) as the database wrote it, never an error."""
    if value is None:
        return ""
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    match = _ISO_MOMENT.match(text)
    if match is None:
        return text
    day, clock, fraction = match.groups()
    return f"{day} {clock}" + ((fraction or ".000")[:4].ljust(4, "0") if millis else "")


def cell(value: Any, width: int = MAX_CELL) -> str:
    """One table cell: empty for null, JSON for objects, shortened with … past `width`."""
    if value is None:
        return ""
    text = json.dumps(clip(value), ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    text = " ".join(text.split())  # a body's newlines would break the table's rows
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows under headings; `columns` is (key, heading) pairs."""
    if not rows:
        return "(none)"
    grid = [[heading for _, heading in columns]]
    grid += [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip() for line in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fields(row: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """One record as `name  value` lines."""
    names = list(keys) if keys is not None else list(row)
    width = max((len(n) for n in names), default=0)
    return "\n".join(f"{name.ljust(width)}  {cell(row.get(name), 200)}" for name in names)


def as_json(value: Any) -> str:
    return json.dumps(clip(value), indent=2, ensure_ascii=False, default=str)
