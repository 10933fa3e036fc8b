"""Slots for long reads (NDJSON streams, exports), shared by every worker and host.

A cap of N slots is N documents with fixed ids (`<cap>:<i>`, i < N). A slot is held by a lease: the
holder's id and an expiry that the holder renews while its read runs. Taking a slot is one atomic
operation on one document, an upsert whose filter matches only an expired lease: a live lease makes
the upsert insert a second document with the same `_id`, which the unique `_id` refuses, so two takers
of the last free slot never both get it. A worker that dies stops renewing; its slots come back when
their leases expire (the TTL index only tidies up, readers compare `expires` themselves).
"""

from __future__ import annotations

import random
from datetime import timedelta

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock, connection

LEASES = "stream_leases"
connection.needs_no_flush(LEASES)  # a lease lost in a crash is a slot that comes back early


def ensure_indexes(db: Database) -> None:
    db[LEASES].create_index([("expires", ASCENDING)], expireAfterSeconds=60, name="expires_ttl")


def take(db: Database, cap: str, size: int, holder: str, lease_sec: float) -> str | None:
    """Takes one of the `size` slots of `cap` for `holder` until `lease_sec` from now; returns the slot's
    id, or None when every slot is held by a live lease."""
    collection = db[LEASES]
    now = clock.now()
    ids = [f"{cap}:{i}" for i in range(size)]
    if size == 1:  # the one slot is tried at once: a read first would cost as much as the try
        free = ids
    else:
        held = {d["_id"] for d in collection.find({"_id": {"$in": ids}, "expires": {"$gt": now}}, {"_id": 1})}
        free = [i for i in ids if i not in held]
        random.shuffle(free)  # takers at once try different slots first
    lease = {"holder": holder, "expires": now + timedelta(seconds=lease_sec), "taken": now}
    for slot in free:
        try:
            collection.update_one({"_id": slot, "expires": {"$lte": now}}, {"$set": lease}, upsert=True)
            return slot
        except DuplicateKeyError:  # taken (or renewed) by someone else since the read
            continue
    return None


def renew(db: Database, slots: list[str], holder: str, lease_sec: float) -> int:
    """Pushes back the expiry of the holder's leases among `slots`; returns how many it still holds."""
    if not slots:
        return 0
    expires = clock.now() + timedelta(seconds=lease_sec)
    return db[LEASES].update_many({"_id": {"$in": slots}, "holder": holder},
                                  {"$set": {"expires": expires}}).matched_count


def release(db: Database, slots: list[str], holder: str) -> None:
    """Gives the holder's leases among `slots` back (a lease already taken over is left alone)."""
    if slots:
        db[LEASES].delete_many({"_id": {"$in": slots}, "holder": holder})
