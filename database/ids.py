"""Every random identifier and secret the server makes, one function per kind.

In the bottom layer so that database/ (document ids) and services/ (key pairs, sessions) share it;
the launcher, which may not import database/, gets key pairs from services/identity/credentials.py.
"""

from __future__ import annotations

import secrets
import string
import uuid

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
ACCESS_KEY_LENGTH = 20


def new_id() -> str:
    """A document id, and any other unique name: 32 hex digits (ClearML's id format)."""
    return uuid.uuid4().hex


def new_access_key() -> str:
    """The public half of a key pair: 20 upper-case letters and digits, as ClearML's."""
    return "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(ACCESS_KEY_LENGTH))


def new_secret_key() -> str:
    """The secret half of a key pair: 36 random bytes, URL-safe base64 (48 characters).

    Never begins with "-", so that it can follow an option on any command line: argument parsers
    (our command line's among them) read "--secret-key -abc" as a missing value and a new option.
    """
    while True:
        secret = secrets.token_urlsafe(36)
        if not secret.startswith("-"):
            return secret
