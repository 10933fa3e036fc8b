"""Turns the Authorization header (or the ClearML token cookie) into an Identity."""

from __future__ import annotations

import base64
import binascii

from services import credentials, errors, tokens
from services.call import Identity, Stores

TOKEN_COOKIE = "clearml_token_basic"


def authenticate(stores: Stores, authorization: str | None, cookie_token: str | None) -> Identity:
    if not authorization:
        if cookie_token:
            return tokens.verify(stores.token_secret, cookie_token)
        raise errors.NoCredentials("no Authorization header")
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        if not value:
            raise errors.InvalidToken("invalid jwt token", reason="empty token")
        return tokens.verify(stores.token_secret, value)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise errors.BadCredentials("Basic credentials are not base64 of key:secret") from exc
        access_key, sep, secret_key = decoded.partition(":")
        if not sep or not access_key:
            raise errors.BadCredentials("Basic credentials are not key:secret")
        return credentials.authenticate_basic(stores.db, access_key, secret_key)
    raise errors.BadAuthType("expected Basic or Bearer", scheme=scheme)
