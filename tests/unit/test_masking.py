"""Secret header values are masked before anything is stored."""

from __future__ import annotations

import pytest

from sidecar.delivery import is_secret_header, mask_headers, response_headers_dict


@pytest.mark.parametrize(
    "name",
    [
        "Authorization", "authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
        "X-API-Key", "x-api-key", "Api_Key", "X-Auth-Token", "X-Client-Secret",
        "webhook-signature", "X-Hub-Signature-256", "TOKEN",
    ],
)
def test_secret_names_are_recognised(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize(
    "name", ["Content-Type", "User-Agent", "X-Lead-ID", "webhook-id", "webhook-timestamp", "Keep-Alive"]
)
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_header(name)


def test_mask_replaces_only_secret_values_and_keeps_order() -> None:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer abc", "X-Api-Key": "k1"}
    masked = mask_headers(headers)
    assert masked == {"Content-Type": "application/json", "Authorization": "***", "X-Api-Key": "***"}
    assert list(masked) == list(headers)


def test_mask_does_not_modify_its_input() -> None:
    headers = {"Cookie": "a=b"}
    mask_headers(headers)
    assert headers == {"Cookie": "a=b"}


def test_response_headers_mask_set_cookie_and_keep_repeats() -> None:
    raw = [("Content-Type", "text/plain"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Vary", "A"), ("vary", "B")]
    assert response_headers_dict(raw) == {"content-type": "text/plain", "set-cookie": "***", "vary": "A, B"}
