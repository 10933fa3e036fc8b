"""Turns the Authorization header (or the ClearML token cookie) into an Identity."""

from __future__ import annotations

import base64
import binascii
import dataclasses

from services import errors
from services.call import Identity, Stores
from services.identity import credentials

TOKEN_COOKIE = "clearml_token_basic"


def client_address(stores: Stores, remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The address sign-in failures are counted against. Behind a proxy every client shares the
    proxy's address; with `auth.throttle.trust_forwarded_for` the last X-Forwarded-For hop (the one
    the proxy appended, which a client cannot forge) counts instead."""
    config = stores.config
    if forwarded_for and config is not None and config.get("auth.throttle.trust_forwarded_for", False):
        last = forwarded_for.split(",")[-1].strip()
        if last:
            return last[:64]
    return remote_addr


def authenticate(stores: Stores, authorization: str | None, cookie_token: str | None,
                 address: str | None = None) -> Identity:
    if not authorization:
        if cookie_token:
            return dataclasses.replace(credentials.authenticate_bearer(stores, cookie_token), session_cookie=True)
        raise errors.NoCredentials("no Authorization header")
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        if not value:
            raise errors.InvalidToken("invalid jwt token", reason="empty token")
        return credentials.authenticate_bearer(stores, value)
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise errors.BadCredentials("Basic credentials are not base64 of key:secret") from exc
        access_key, sep, secret_key = decoded.partition(":")
        if not sep or not access_key:
            raise errors.BadCredentials("Basic credentials are not key:secret")
        return credentials.authenticate_basic(stores, access_key, secret_key, address)
    raise errors.BadAuthType("expected Basic or Bearer", scheme=scheme)
