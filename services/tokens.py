"""Signed bearer tokens (HS256 JWTs). Verified by signature alone: no database round trip."""

from __future__ import annotations

import time
import uuid

import jwt

from services import errors
from services.call import Identity

ALGORITHM = "HS256"


def mint(secret: str, identity: Identity, expiration_sec: int, claims: dict) -> str:
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
        "session_id": uuid.uuid4().hex,
        "iat": now,
        "exp": now + expiration_sec,
        **claims,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> Identity:
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "identity"]})
    except jwt.ExpiredSignatureError as exc:
        raise errors.InvalidToken("invalid jwt token", reason="token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise errors.InvalidToken("invalid jwt token", reason=str(exc) or type(exc).__name__) from exc
    ident = payload.get("identity")
    if not isinstance(ident, dict) or not ident.get("user") or "company" not in ident:
        raise errors.InvalidToken("invalid jwt token", reason="missing identity")
    return Identity(
        user=str(ident["user"]),
        company=str(ident["company"]),
        role=str(ident.get("role", "user")),
        user_name=str(ident.get("user_name", "")),
        company_name=str(ident.get("company_name", "")),
    )
