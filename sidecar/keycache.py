"""An lru_cache that does not keep long keys: memory stays bounded whatever a row holds."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")

# Longer than any value the database accepts for a cached kind (webhook_url: 2048).
MAX_CACHED_KEY_CHARS = 2048


def short_key_cache(maxsize: int) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """Cache `fn(key)` for keys up to MAX_CACHED_KEY_CHARS; a longer key is computed each time."""

    def wrap(fn: Callable[[str], R]) -> Callable[[str], R]:
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(key: str) -> R:
            return cached(key) if len(key) <= MAX_CACHED_KEY_CHARS else fn(key)

        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return call

    return wrap
