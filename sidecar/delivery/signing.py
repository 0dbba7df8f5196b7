"""Standard Webhooks v1 signatures: HMAC-SHA256 over "{id}.{timestamp}.{body}"."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re

from sidecar.errors import SidecarError

SECRET_PREFIX = "whsec_"
# The format `webhooks_private.webhook_secret_problem` (supabase/migrations/20261202130000_input_limits.sql)
# checks too (tests/db/test_input_limits.py feeds both the same strings).
MAX_SECRET_CHARS = 94
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
_PADDED_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class SigningSecretError(SidecarError, ValueError):
    """The signing secret is not `whsec_` followed by base64 of 24 to 64 bytes."""


def secret_problem(secret: str) -> str | None:
    """Why `secret` is not a signing secret (whsec_ + padded base64 of 24-64 bytes), or None."""
    if len(secret) > MAX_SECRET_CHARS:
        return f"signing_secret is {len(secret)} characters long; at most {MAX_SECRET_CHARS}"
    if not secret.startswith(SECRET_PREFIX):
        return "signing_secret must be whsec_ followed by padded base64 (it does not start with whsec_)"
    body = secret[len(SECRET_PREFIX):]
    if not _PADDED_BASE64.fullmatch(body):
        return "signing_secret must be whsec_ followed by padded base64"
    decoded = len(body) // 4 * 3 - (len(body) - len(body.rstrip("=")))
    if not MIN_KEY_BYTES <= decoded <= MAX_KEY_BYTES:
        return f"signing_secret must encode {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes of key, got {decoded}"
    return None


@functools.lru_cache(maxsize=1024)  # a handful of rules send most attempts; keys are at most 94 characters
def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret, refused unless `secret_problem` finds nothing."""
    problem = secret_problem(secret)
    if problem is not None:
        raise SigningSecretError(problem)
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SigningSecretError("signing_secret must be whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes, previous: str | None = None) -> str:
    """The `webhook-signature` header value: "v1,<base64 HMAC-SHA256>".

    With `previous` (a replaced secret still in its overlap), "v1,<new> v1,<old>":
    Standard Webhooks verifiers accept a request if any listed signature matches.
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    value = _signature(secret, signed)
    return value if previous is None else f"{value} {_signature(previous, signed)}"


def _signature(secret: str, signed: bytes) -> str:
    # hmac.digest is OpenSSL's one-shot HMAC: no HMAC object per attempt (hmac.new builds one).
    digest = hmac.digest(secret_key(secret), signed, "sha256")
    return "v1," + binascii.b2a_base64(digest, newline=False).decode("ascii")
