"""Counters of failed sign-ins, per (access key, client address) pair and per client address, shared by
every worker and host.

One document per counter: `{_id: "pair:..." | "addr:<address>", count, reset[, blocked_until]}`. A
counter runs in a fixed window that starts at its first failure; `reset` ends it and a TTL index removes
the document afterwards (the TTL monitor runs about once a minute, so readers compare `reset`
themselves). An address counter may also carry `blocked_until`, the end of its current short backoff.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock

FAILURES = "login_failures"


def ensure_indexes(db: Database) -> None:
    db[FAILURES].create_index([("reset", ASCENDING)], expireAfterSeconds=0)


def active(db: Database, counter_ids: list[str]) -> list[dict]:
    """The counters among `counter_ids` whose window is still open (one indexed `_id` lookup)."""
    now = clock.now()
    return list(db[FAILURES].find({"_id": {"$in": counter_ids}, "reset": {"$gt": now}}))


def record_failure(db: Database, counter_id: str, window_sec: int, fields: dict | None = None) -> dict:
    """Counts one failure; returns the counter after it (a closed window starts over). `fields` are
    stored when the counter is created (for an operator reading the collection)."""
    now = clock.now()
    collection = db[FAILURES]
    # A window that ended but that the TTL monitor has not removed yet starts over.
    collection.delete_one({"_id": counter_id, "reset": {"$lte": now}})
    update = {"$inc": {"count": 1},
              "$setOnInsert": {"reset": now + timedelta(seconds=window_sec), **(fields or {})}}
    for _ in range(3):  # two first failures at once: one insert wins, the other retries as an update
        try:
            return collection.find_one_and_update({"_id": counter_id}, update, upsert=True,
                                                  return_document=True)
        except DuplicateKeyError:
            continue
    return collection.find_one({"_id": counter_id}) or {"_id": counter_id, "count": 1, "reset": now}


def block_until(db: Database, counter_id: str, until: datetime) -> None:
    """Refuses the counter's sign-ins until `until` (never shortening a longer block already set); the
    window is stretched to cover it, so the TTL index never removes a block before it ends."""
    db[FAILURES].update_one({"_id": counter_id}, {"$max": {"blocked_until": until, "reset": until}})
