"""The request body: Postgres' canonical jsonb text with the whitespace outside strings removed."""

from __future__ import annotations

import re

# A JSON string (kept whole, escapes included) or a run of whitespace outside strings.
# Alternation order matters: a quote always starts a string token, so spaces inside
# strings are never seen as separators.
_STRING_OR_SPACE = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\n\r]+', re.DOTALL)


def _keep_strings(match: re.Match[str]) -> str:
    return match.group(1) or ""


def compact_jsonb_text(text: str) -> bytes:
    """`{"a": 1, "b": [1, 2]}` -> b'{"a":1,"b":[1,2]}'; every other byte kept, UTF-8 encoded."""
    return _STRING_OR_SPACE.sub(_keep_strings, text).encode("utf-8")
