"""Caches keyed by URL do not keep long keys, so their memory is bounded whatever a rule holds."""

from __future__ import annotations


def test_caches_keyed_by_url_keep_no_key_longer_than_the_url_limit() -> None:
    from sidecar.delivery import attempt as delivery
    from sidecar.keycache import MAX_CACHED_KEY_CHARS
    from sidecar.ops import logs

    long_url = "https://example.com/" + "a" * 1_000_000
    for cached in (delivery.target_url, delivery.url_problem, logs._host):
        cached.cache_clear()
        cached(long_url)
        cached("https://example.com/short")
        assert cached.cache_info().currsize == 1, cached
    assert MAX_CACHED_KEY_CHARS == 2048
