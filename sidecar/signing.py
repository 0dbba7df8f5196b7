"""Standard Webhooks v1 signatures: HMAC-SHA256 over "{id}.{timestamp}.{body}"."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


class SigningSecretError(ValueError):
    """The signing secret is not `whsec_` followed by base64."""


@functools.lru_cache(maxsize=1024)  # a handful of rules send most attempts
def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the spec)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SigningSecretError("signing secret must be whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes, previous: str | None = None) -> str:
    """The `webhook-signature` header value: "v1,<base64 HMAC-SHA256>".

    With `previous` (a replaced secret still in its overlap), "v1,<new> v1,<old>":
    Standard Webhooks verifiers accept a request if any listed signature matches.
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    value = _signature(secret, signed)
    return value if previous is None else f"{value} {_signature(previous, signed)}"


def _signature(secret: str, signed: bytes) -> str:
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
