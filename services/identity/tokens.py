"""Signed bearer tokens (HS256 JWTs).

A token names the key pair it descends from (`cred`) and when its session began (`auth_time`, the
Basic sign-in). The signature proves the claims; whether the key pair still exists is checked on
every call by services/identity/credentials.py (one indexed point lookup), so revoking it ends its tokens.
"""

from __future__ import annotations

import functools
import time

import jwt

from database import ids
from services import errors
from services.call import Identity

ALGORITHM = "HS256"


def mint(secret: str, identity: Identity, expiration_sec: int, claims: dict, *, credential: str = "",
         auth_time: int | None = None, expires_at: int | None = None) -> str:
    now = int(time.time())
    payload = {
        "identity": {
            "user": identity.user,
            "company": identity.company,
            "role": identity.role,
            "user_name": identity.user_name,
            "company_name": identity.company_name,
        },
        "auth_type": "Bearer",
        "session_id": ids.new_id(),
        "cred": credential or identity.credential,
        "auth_time": now if auth_time is None else int(auth_time),
        "iat": now,
        "exp": now + expiration_sec if expires_at is None else int(expires_at),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


@functools.lru_cache(maxsize=4096)
def _signed_identity(secret: str, token: str) -> tuple[float, Identity]:
    """(expiry, identity) of a token whose signature and claims checked out. Remembered per worker: the
    same token comes back with every call of a client, and checking its signature and building its
    identity again would cost a third of a cached call. Only what the token itself says is remembered
    (the identity is frozen); expiry is checked on every call by `verify`, revocation by
    services/identity/credentials.py. A token that fails is never remembered (lru_cache keeps no
    exceptions)."""
    payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "identity"]})
    ident = payload.get("identity")
    if not isinstance(ident, dict) or not ident.get("user") or "company" not in ident:
        raise errors.InvalidToken("invalid jwt token", reason="missing identity")
    credential = payload.get("cred")
    auth_time = payload.get("auth_time")
    # Tokens minted before tokens named their key pair cannot be revoked: refuse them (sign in again).
    if not isinstance(credential, str) or not credential or not isinstance(auth_time, int):
        raise errors.InvalidToken("invalid jwt token", reason="token has no key pair; sign in again")
    return payload["exp"], Identity(
        user=str(ident["user"]),
        company=str(ident["company"]),
        role=str(ident.get("role", "user")),
        user_name=str(ident.get("user_name", "")),
        company_name=str(ident.get("company_name", "")),
        credential=credential,
        bearer=True,
        auth_time=auth_time,
        browser_token=payload.get("browser") is True,
    )


def verify(secret: str, token: str) -> Identity:
    """The identity a well-signed, unexpired token claims (not yet checked against revocation)."""
    try:
        expires, identity = _signed_identity(secret, token)
    except jwt.ExpiredSignatureError as exc:
        raise errors.InvalidToken("invalid jwt token", reason="token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise errors.InvalidToken("invalid jwt token", reason=str(exc) or type(exc).__name__) from exc
    if expires <= time.time():  # as PyJWT decides it, for a token remembered before it expired
        raise errors.InvalidToken("invalid jwt token", reason="token expired")
    return identity
