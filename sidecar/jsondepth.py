"""JSON read for display with bounded nesting: no row, however deep, can crash a reader.

The database refuses new leads nested deeper than 64 levels
(supabase/migrations/20261202130000_input_limits.sql); rows written before that, or
by hand, may nest thousands deep, which makes the json module (and any recursive
walk over its result) raise RecursionError. Values are cut at MAX_DEPTH levels; the
cut part becomes the string CUT.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 100
CUT = f"… (nested deeper than {MAX_DEPTH} levels, not shown)"


# A JSON string (escapes included) or a bracket: the only tokens that decide nesting.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def loads(text: str | bytes) -> Any:
    """json.loads, with the nesting cut at MAX_DEPTH before parsing, so the parser never recurses deeper."""
    if _brackets(text) <= MAX_DEPTH:
        return json.loads(text)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        return json.loads(_cut(text))
    except RecursionError:
        return CUT


def _cut(text: str) -> str:
    """The JSON text with every container below MAX_DEPTH levels replaced by the string CUT.

    One pass over strings and brackets (the regex skips everything else in C), so a
    row of any depth is cut without recursion: the whole row survives, not only
    its shallow columns.
    """
    parts: list[str] = []
    depth, kept_to, cut_from = 0, 0, -1
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == MAX_DEPTH + 1:
                cut_from = match.start()
            continue
        if depth == MAX_DEPTH + 1 and cut_from >= 0:
            parts += [text[kept_to:cut_from], json.dumps(CUT, ensure_ascii=False)]
            kept_to, cut_from = match.end(), -1
        depth -= 1
    parts.append(text[kept_to:])
    return "".join(parts)


def clip(value: Any, depth: int = MAX_DEPTH) -> Any:
    """A copy of `value` whose containers below `depth` levels are replaced by CUT (recursion ≤ depth)."""
    if not isinstance(value, dict | list):
        return value
    if depth <= 0:
        return CUT
    if isinstance(value, dict):
        return {key: clip(item, depth - 1) for key, item in value.items()}
    return [clip(item, depth - 1) for item in value]


def _brackets(text: str | bytes) -> int:
    # An upper bound of the nesting: a value with few brackets needs no walk.
    if isinstance(text, bytes):
        return text.count(b"{") + text.count(b"[")
    return text.count("{") + text.count("[")
