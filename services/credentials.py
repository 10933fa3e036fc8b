"""Checks Basic-auth key pairs and creates users and key pairs."""

from __future__ import annotations

import secrets
import string

from database import users_db
from services import errors
from services.call import Identity

_KEY_ALPHABET = string.ascii_uppercase + string.digits


def new_access_key() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))


def new_secret_key() -> str:
    return secrets.token_urlsafe(36)


def identity_of(credential: dict) -> Identity:
    return Identity(
        user=credential["user"],
        company=credential["company"],
        role=credential.get("role", "user"),
        user_name=credential.get("user_name", ""),
        company_name=credential.get("company_name", ""),
    )


def authenticate_basic(db, access_key: str, secret_key: str) -> Identity:
    credential = users_db.check_credential(db, access_key, secret_key)
    if credential is None:
        raise errors.InvalidCredentials("unknown access key or wrong secret")
    return identity_of(credential)


def issue_credentials(db, user: dict, label: str | None = None) -> dict:
    access_key, secret_key = new_access_key(), new_secret_key()
    users_db.add_credential(db, user, access_key, secret_key, label)
    result = {"access_key": access_key, "secret_key": secret_key}
    if label:
        result["label"] = label
    return result
