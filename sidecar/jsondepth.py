"""JSON read for display with bounded nesting: no row, however deep, can crash a reader.

The database refuses new leads nested deeper than 64 levels
(supabase/migrations/20261202130000_input_limits.sql); rows written before that, or
by hand, may nest thousands deep, which makes the json module (and any recursive
walk over its result) raise RecursionError. Values are cut at MAX_DEPTH levels; the
cut part becomes the string CUT.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 100
CUT = f"… (nested deeper than {MAX_DEPTH} levels, not shown)"


def loads(text: str | bytes) -> Any:
    """json.loads, with the nesting cut at MAX_DEPTH; a text too deep even to parse becomes CUT."""
    try:
        value = json.loads(text)
    except RecursionError:
        return CUT
    return clip(value) if _brackets(text) > MAX_DEPTH else value


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
