"""Each user's web-interface preferences: collection `user_preferences`, one document per user
`{_id: user id, company, preferences: {...}}`.

Updates replace whole top-level keys with `$set` on `preferences.<key>`, so two browser tabs (or two
API workers) writing different keys at once never lose each other's change.
"""

from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

PREFERENCES = "user_preferences"


def ensure_indexes(db: Database) -> None:
    db[PREFERENCES].create_index([("company", ASCENDING)])


def get_preferences(db: Database, user_id: str) -> dict:
    doc = db[PREFERENCES].find_one({"_id": user_id}, {"preferences": 1})
    return (doc or {}).get("preferences") or {}


def set_top_level(db: Database, user_id: str, company: str, changes: dict) -> tuple[dict, dict]:
    """Sets each top-level key of `changes`; returns (preferences before, preferences after).

    Keys must already be checked: no '.', no leading '$', not empty.
    """
    if not changes:
        current = get_preferences(db, user_id)
        return current, current
    before = db[PREFERENCES].find_one_and_update(
        {"_id": user_id},
        {"$set": {**{f"preferences.{k}": v for k, v in changes.items()}, "company": company}},
        projection={"preferences": 1},
        upsert=True,
        return_document=ReturnDocument.BEFORE,
    )
    old = (before or {}).get("preferences") or {}
    return old, {**old, **changes}
