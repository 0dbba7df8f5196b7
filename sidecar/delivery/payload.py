"""The request body: Postgres' canonical jsonb text with the whitespace outside strings removed."""

from __future__ import annotations

import re

# What to keep: a whole JSON string (escapes included), a run of anything that is
# neither JSON whitespace nor a quote, or a stray quote. Everything findall skips is
# whitespace outside strings. findall + join stays in C: no per-match Python callback,
# which measured ~3.5x faster than re.sub with a function on a 670-byte payload.
_KEPT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^ \t\n\r"]+|"', re.DOTALL)


def compact_jsonb_text(text: str) -> bytes:
    """`{"a": 1, "b": [1, 2]}` -> b'{"a":1,"b":[1,2]}'; every other byte kept, UTF-8 encoded."""
    if "\\" in text or "\n" in text or "\t" in text or "\r" in text or "\0" in text:
        return "".join(_KEPT.findall(text)).encode("utf-8")
    # Without escapes every quote opens or closes a string, so the even pieces of a
    # split on '"' are exactly the text outside strings: ~2x faster than the scanner.
    # They are joined on NUL (which jsonb text cannot hold unescaped), stripped of their
    # spaces in one call and split again: three C calls instead of one per piece.
    pieces = text.split('"')
    pieces[::2] = "\0".join(pieces[::2]).replace(" ", "").split("\0")
    return '"'.join(pieces).encode("utf-8")
