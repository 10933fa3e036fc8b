"""Checks Basic-auth key pairs and bearer tokens, and creates key pairs."""

from __future__ import annotations

import dataclasses
import hashlib
import time

from database import ids
from database.collections import users_db
from database.collections.directory_db import Directory
from services import errors
from services.call import Identity, Stores
from services.identity import throttle, tokens


def new_key_pair() -> tuple[str, str]:
    """A fresh (access key, secret key): users' pairs, the first admin's and the embedded S3 server's."""
    return ids.new_access_key(), ids.new_secret_key()


def identity_of(credential: dict) -> Identity:
    return Identity(
        user=credential["user"],
        company=credential["company"],
        role=credential.get("role", "user"),
        user_name=credential.get("user_name", ""),
        company_name=credential.get("company_name", ""),
        credential=credential["_id"],
    )


def authenticate_basic(stores: Stores, access_key: str, secret_key: str, address: str | None = None) -> Identity:
    """The identity of a key pair. Wrong secrets are counted (per key and address pair, and per
    client address) and, repeated, refused with 429 for a while (services/identity/throttle.py). A pair this
    process verified from this address under the current lease, recently enough, is not looked up
    again (services/identity/lease.py)."""
    db, lease = stores.db, stores.credential_lease
    # Per address: a lockout of this key from one address must not be skipped by what another verified.
    remembered_as = ("basic", access_key, address, hashlib.sha256(secret_key.encode()).digest())
    epoch = lease.epoch(db)
    identity = lease.recall(remembered_as, epoch)
    if identity is not None:
        return identity
    looked_up_at = time.monotonic()
    throttle.check(db, stores.config, access_key, address)
    credential = users_db.check_credential(db, access_key, secret_key)
    if credential is None:
        if throttle.failed(db, stores.config, access_key, address):
            lease.forget()  # the lockout applies here at once, on other hosts within one lease
        raise errors.InvalidCredentials("unknown access key or wrong secret")
    identity = identity_of(credential)
    lease.remember(remembered_as, epoch, identity, looked_up_at)
    return identity


def authenticate_bearer(stores: Stores, token: str) -> Identity:
    """A token's identity, once its key pair is known to still exist: one point lookup by `_id` on the
    shared database, or none while this process's lease on that answer holds (a revocation through any
    host answers only once every lease has ended or seen it: services/identity/lease.py)."""
    identity = tokens.verify(stores.token_secret, token)
    lease = stores.credential_lease
    epoch = lease.epoch(stores.db)
    owner = lease.recall(("bearer", identity.credential), epoch)
    if owner is None:
        looked_up_at = time.monotonic()
        owner = users_db.credential_owner(stores.db, identity.credential)
        if owner is not None:
            lease.remember(("bearer", identity.credential), epoch, owner, looked_up_at)
    if owner is None or owner.get("user") != identity.user:
        raise errors.InvalidToken("invalid jwt token", reason="its key pair was revoked or its user deleted")
    role = owner.get("role") or identity.role
    # The role stored with the key pair wins over the token's: a changed role applies at once.
    return identity if role == identity.role else dataclasses.replace(identity, role=role)


def issue_credentials(directory: Directory, user: dict, label: str | None = None) -> dict:
    """A new key pair for `user` (the directory refuses a user of a company the caller may not manage)."""
    access_key, secret_key = new_key_pair()
    directory.add_credential(user, access_key, secret_key, label)
    result = {"access_key": access_key, "secret_key": secret_key}
    if label:
        result["label"] = label
    return result
