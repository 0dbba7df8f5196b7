"""What counts as a secret in a logged request: header names and URL query parameters.

One rule for both places, applied when an attempt is written, so every reader of
webhook_logs (owners, read-scoped API keys, the CLI) gets rows that are already safe.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from sidecar.keycache import short_key_cache

MASK = "***"
# Whole names that are credentials although they contain none of the parts below.
SECRET_NAMES = frozenset({"sig", "pw", "pwd", "code"})
# A name containing any of these (case-insensitive) is a secret: "X-Auth", "X-Api-Key",
# "X-Password", "X-Client-Credentials", "Cookie", "X-Session-Id", "private_key", ...
SECRET_PARTS = ("auth", "pass", "credential", "session", "private", "cookie",
                "key", "token", "secret", "signature", "jwt", "csrf", "xsrf")


@functools.lru_cache(maxsize=4096)  # the same few names come back on every attempt
def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a credential."""
    lowered = name.lower()
    return lowered in SECRET_NAMES or any(part in lowered for part in SECRET_PARTS)


def mask_query(query: str) -> str:
    """`a=1&token=x` -> `a=1&token=***`: values of secret parameters masked, the rest kept byte for byte."""
    pieces = []
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        secret = eq and value and is_secret_name(unquote_plus(name))
        pieces.append(f"{name}={MASK}" if secret else piece)
    return "&".join(pieces)


def logged_url(url: str) -> str:
    """The URL as logged: a password in it (sent as Basic auth) and secret query values replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password:
        userinfo, _, host = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:{MASK}@{host}")
    if parts.query:
        parts = parts._replace(query=mask_query(parts.query))
    return urlunsplit(parts) if password or parts.query else url


masked_url = short_key_cache(maxsize=256)(logged_url)  # per recorded attempt; a rule's URL repeats


def mask_headers(headers: dict[str, str] | Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: secret values replaced by "***", names and order kept."""
    return {name: MASK if is_secret_name(name) else value for name, value in headers.items()}
