"""Secret header values are masked before anything is stored."""

from __future__ import annotations

import pytest

from sidecar.delivery.attempt import is_secret_header, mask_headers, response_headers_dict


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
    raw = [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"), (b"Vary", b"A"),
           (b"vary", b"B")]
    assert response_headers_dict(raw) == {"content-type": "text/plain", "set-cookie": "***", "vary": "A, B"}


def test_raw_response_fields_are_logged_the_same_through_the_name_cache() -> None:
    # Names are judged once and cached: the second pass goes through the cache.
    raw = [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"X-Api-Key", b"k"), (b"Vary", b"A"),
           (b"vary", b"B"), (b"X-Obs", b"caf\xe9"), (b"VARY", b"C")]
    expected = {"content-type": "text/plain", "set-cookie": "***", "x-api-key": "***", "vary": "A, B, C",
                "x-obs": "caf\xe9"}
    for _ in range(2):
        assert response_headers_dict(raw) == expected


@pytest.mark.parametrize(
    "name",
    ["X-Auth", "X-Password", "X-Pass", "X-Client-Credentials", "X-Session-Id", "X-Private-Data",
     "X-Api-Token", "Private-Token", "X-Amz-Security-Token", "Sessionid"],
)
def test_common_credential_header_names_are_secret(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        ("https://h.example/p?access_token=abc&page=2", "https://h.example/p?access_token=***&page=2"),
        ("https://h.example/p?token=a&key=b&api_key=c&apikey=d", "https://h.example/p?token=***&key=***&api_key=***&apikey=***"),
        ("https://h.example/p?secret=a&signature=b&sig=c&password=d&auth=e",
         "https://h.example/p?secret=***&signature=***&sig=***&password=***&auth=***"),
        ("https://h.example/p?X-Amz-Credential=a&X-Amz-Signature=b&lang=fr",
         "https://h.example/p?X-Amz-Credential=***&X-Amz-Signature=***&lang=fr"),
        ("https://h.example/p?client%5Fsecret=a", "https://h.example/p?client%5Fsecret=***"),
        ("https://u:pw@h.example/token/abc?q=1", "https://u:***@h.example/token/abc?q=1"),  # the path is kept
        ("https://h.example/p?flag&token=", "https://h.example/p?flag&token="),
        ("https://h.example/p", "https://h.example/p"),
    ],
)
def test_logged_url_masks_secret_query_values_and_the_password(url: str, logged: str) -> None:
    from sidecar.masking import logged_url, masked_url
    assert logged_url(url) == logged == masked_url(url)
