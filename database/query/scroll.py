"""Scroll state for get_all-like calls, kept in MongoDB so any API process can continue a scroll.

A TTL index removes expired states, but MongoDB runs it about once a minute, so reads check `expires_at`
themselves.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo.database import Database

from database import clock, ids

COLLECTION = "scroll_states"
DEFAULT_TTL_SEC = 600


def ensure_indexes(db: Database) -> None:
    db[COLLECTION].create_index("expires_at", expireAfterSeconds=0, name="expires_at_ttl")


def get_position(db: Database, scroll_id: str | None, company: str | None) -> tuple[str, int]:
    """(scroll id, position) to continue from; an unknown, expired or foreign id starts anew at 0."""
    if isinstance(scroll_id, str) and scroll_id:
        state = db[COLLECTION].find_one({"_id": scroll_id, "company": company})
        if state and state["expires_at"] > clock.now():
            return scroll_id, int(state["position"])
    return ids.new_id(), 0


def save(db: Database, scroll_id: str, position: int, ttl_sec: int = DEFAULT_TTL_SEC,
         company: str | None = None) -> None:
    now = clock.now()
    db[COLLECTION].update_one(
        {"_id": scroll_id},
        {"$set": {"position": position, "expires_at": now + timedelta(seconds=ttl_sec), "company": company},
         "$setOnInsert": {"created": now}},
        upsert=True,
    )
