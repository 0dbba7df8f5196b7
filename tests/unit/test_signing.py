"""Standard Webhooks v1 signatures, checked against the reference library."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sidecar.delivery.signing import SigningSecretError, sign

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
MSG_ID = "2b1f8a4e-3c6d-4e5f-8a9b-0c1d2e3f4a5b"


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, signature: str) -> object:
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    return Webhook(secret).verify(body, headers)


def test_signature_verifies_with_standardwebhooks() -> None:
    import time

    now = int(time.time())
    body = b'{"type":"lead.created","data":{"name":"J\xc3\xa9r\xc3\xb4me"}}'
    assert verify(SECRET, MSG_ID, now, body, sign(SECRET, MSG_ID, now, body)) is not None


def test_signature_has_v1_prefix_and_base64_sha256() -> None:
    signature = sign(SECRET, MSG_ID, 1700000000, b"{}")
    scheme, encoded = signature.split(",", 1)
    assert scheme == "v1"
    assert len(base64.b64decode(encoded)) == 32


def test_key_is_the_decoded_secret_not_its_text() -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, f"{MSG_ID}.1700000000.{{}}".encode(), hashlib.sha256).digest()
    assert sign(SECRET, MSG_ID, 1700000000, b"{}") == "v1," + base64.b64encode(expected).decode()


def test_changed_body_does_not_verify() -> None:
    import time

    now = int(time.time())
    signature = sign(SECRET, MSG_ID, now, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, MSG_ID, now, b'{"a":2}', signature)


def test_other_secret_does_not_verify() -> None:
    import time

    now = int(time.time())
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        verify(other, MSG_ID, now, b"{}", sign(SECRET, MSG_ID, now, b"{}"))


def test_malformed_secret_is_refused() -> None:
    with pytest.raises(SigningSecretError):
        sign("whsec_not base64!!", MSG_ID, 1, b"{}")


OLD_SECRET = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()


def test_with_a_previous_secret_either_secret_verifies() -> None:
    import time

    now = int(time.time())
    body = b'{"type":"lead.created"}'
    signature = sign(SECRET, MSG_ID, now, body, previous=OLD_SECRET)

    assert signature.count("v1,") == 2 and signature.startswith(sign(SECRET, MSG_ID, now, body) + " ")
    assert verify(SECRET, MSG_ID, now, body, signature) is not None
    assert verify(OLD_SECRET, MSG_ID, now, body, signature) is not None
