"""Users and their API credentials. Secrets are stored as keyed SHA-256 digests, never in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pymongo import ASCENDING
from pymongo.database import Database

from database import clock, ids
from database.collections import generations

USERS = "users"
CREDENTIALS = "credentials"
# The generation (database/collections/generations.py) of what a key pair may do: incremented when one is revoked,
# its user deleted or its role changed, or a sign-in lockout begins; workers that remember verified key
# pairs compare it (services/identity/lease.py).
AUTH_GENERATION = "credentials"


def ensure_indexes(db: Database) -> None:
    db[USERS].create_index([("company", ASCENDING), ("name", ASCENDING)])
    db[CREDENTIALS].create_index([("user", ASCENDING)])


def auth_epoch(db: Database) -> int:
    return generations.read(db, AUTH_GENERATION)


def bump_auth_epoch(db: Database) -> None:
    generations.bump(db, AUTH_GENERATION)


def _digest(salt: str, secret: str) -> str:
    # Generated secrets carry ~256 bits of entropy, so a keyed hash is enough; a slow password hash
    # would cost ~100 ms per Basic-auth call.
    return hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()


def create_user(db: Database, name: str, company: str, company_name: str, role: str) -> dict:
    doc = {
        "_id": ids.new_id(),
        "name": name,
        "company": company,
        "company_name": company_name,
        "role": role,
        "created": clock.now(),
    }
    db[USERS].insert_one(doc)
    return doc


def get_user(db: Database, user_id: str) -> dict | None:
    return db[USERS].find_one({"_id": user_id})


def find_user(db: Database, company: str, role: str | None = None, name: str | None = None) -> dict | None:
    """The company's first user (oldest), optionally with this role and name."""
    query = {"company": company}
    if role:
        query["role"] = role
    if name:
        query["name"] = name
    return db[USERS].find_one(query, sort=[("created", ASCENDING)])


def add_credential(db: Database, user: dict, access_key: str, secret_key: str, label: str | None = None) -> dict:
    salt = secrets.token_hex(16)
    doc = {
        "_id": access_key,
        "user": user["_id"],
        "company": user["company"],
        "company_name": user.get("company_name", ""),
        "user_name": user.get("name", ""),
        "role": user["role"],
        "salt": salt,
        "digest": _digest(salt, secret_key),
        "created": clock.now(),
    }
    if label:
        doc["label"] = label
    db[CREDENTIALS].insert_one(doc)
    return doc


def get_credential(db: Database, access_key: str) -> dict | None:
    return db[CREDENTIALS].find_one({"_id": access_key})


def check_credential(db: Database, access_key: str, secret_key: str) -> dict | None:
    """The credential document when the pair is valid, else None."""
    doc = db[CREDENTIALS].find_one({"_id": access_key})
    if doc is None or not hmac.compare_digest(doc["digest"], _digest(doc["salt"], secret_key)):
        return None
    return doc


def list_credentials(db: Database, user_id: str) -> list[dict]:
    projection = {"salt": 0, "digest": 0}
    return list(db[CREDENTIALS].find({"user": user_id}, projection).sort("created", ASCENDING))


def revoke_credential(db: Database, user_id: str, access_key: str) -> int:
    deleted = db[CREDENTIALS].delete_one({"_id": access_key, "user": user_id}).deleted_count
    if deleted:
        bump_auth_epoch(db)
    return deleted


def credential_owner(db: Database, access_key: str) -> dict | None:
    """`{user, role}` of a live key pair: the one lookup a Bearer call costs (by `_id`)."""
    return db[CREDENTIALS].find_one({"_id": access_key}, {"user": 1, "role": 1})


def list_users(db: Database, company: str | None = None) -> list[dict]:
    query = {} if company is None else {"company": company}
    return list(db[USERS].find(query).sort([("company", ASCENDING), ("created", ASCENDING)]))


def company_name(db: Database, company: str) -> str | None:
    """The name a company's users carry; None when the company has no user yet."""
    doc = db[USERS].find_one({"company": company}, {"company_name": 1})
    return None if doc is None else doc.get("company_name", "")


def set_role(db: Database, user_id: str, role: str) -> None:
    """Changes a user's role, in the user and in every key pair (which carry it for sign-in)."""
    db[USERS].update_one({"_id": user_id}, {"$set": {"role": role}})
    db[CREDENTIALS].update_many({"user": user_id}, {"$set": {"role": role}})
    bump_auth_epoch(db)


def update_profile(db: Database, user_id: str, fields: dict) -> int:
    """Sets names or avatar of a user; a new name also goes to its key pairs, which carry it for sign-in.
    Returns 1 when the user exists."""
    matched = db[USERS].update_one({"_id": user_id}, {"$set": fields}).matched_count
    if matched and "name" in fields:
        db[CREDENTIALS].update_many({"user": user_id}, {"$set": {"user_name": fields["name"]}})
        bump_auth_epoch(db)
    return matched


def delete_user(db: Database, user_id: str) -> int:
    """Deletes the key pairs first: once they are gone no token of the user authenticates."""
    db[CREDENTIALS].delete_many({"user": user_id})
    deleted = db[USERS].delete_one({"_id": user_id}).deleted_count
    bump_auth_epoch(db)
    return deleted
