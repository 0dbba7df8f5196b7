"""Who is calling: `Authorization: Bearer <bpc_ key | Supabase access token>`.

An API key is passed on untouched (the database checks it). A JWT is verified here
on the direct transport, because the server then sets its claims itself: HS256 with
SUPABASE_JWT_SECRET, ES256/RS256 with a key from the JWKS URL; expiry and the
`authenticated` audience are required. On the Supabase transport PostgREST verifies it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import jwt

from sidecar.api.errors import ApiError

KEY_PREFIX = "bpc_"
AUDIENCE = "authenticated"
ASYMMETRIC = ("ES256", "RS256")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    token: str
    claims: dict[str, Any] | None  # None: an API key

    @property
    def is_key(self) -> bool:
        return self.claims is None


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers=dict(CHALLENGE))


class Authenticator:
    def __init__(self, jwt_secret: str | None, jwks_url: str | None, verify: bool = True) -> None:
        self._secret = jwt_secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=600, timeout=10) if jwks_url else None
        self._verify = verify

    async def caller(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        if token.startswith(KEY_PREFIX):
            return Caller(token, None)
        if not self._verify:
            return Caller(token, {})
        return Caller(token, await self.claims(token))

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            key = await self._key(token, str(algorithm))
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[str(algorithm)], audience=AUDIENCE,
                options={"require": ["exp", "sub"]})
        except jwt.PyJWKClientError as exc:
            raise unauthorized(f"access token not accepted: no usable signing key ({exc})") from exc
        except jwt.PyJWTError as exc:
            raise unauthorized(f"access token not accepted: {exc}") from exc
        return claims

    async def _key(self, token: str, algorithm: str) -> Any:
        if algorithm == "HS256":
            if not self._secret:
                raise unauthorized("HS256 access tokens need SUPABASE_JWT_SECRET on this server")
            return self._secret
        if algorithm in ASYMMETRIC:
            if self._jwks is None:
                raise unauthorized(f"{algorithm} access tokens need SUPABASE_JWKS_URL (or SUPABASE_URL) on this server")
            jwks = self._jwks
            return (await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)).key
        raise unauthorized(f"access token algorithm {algorithm} is not accepted: use HS256, ES256 or RS256")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise unauthorized("missing Authorization header: send Authorization: Bearer <bpc_ key or access token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Authorization must be Bearer <bpc_ key or access token>")
    return token.strip()
