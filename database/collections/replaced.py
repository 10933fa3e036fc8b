"""An update that answers the document as it was just before it, atomically on every server.

Callers rely on that document to know what they replaced: the stored file whose blob they delete, the
content reference a path gives back. MongoDB's findAndModify with
`returnDocument: before` gives it atomically. The embedded server (secantusd-py) applies such an update
atomically but may answer an older document under concurrent updates of the same document (8 threads
incrementing one counter with `before` got 142 distinct answers out of 240; `after` and conditional
updates are exact). There the update is made a compare-and-set: the fields the caller reads back are
read, and the update applies only while they still hold what was read (tried again when another write
came in between); what was read is the answer.
"""

from __future__ import annotations

import random
import time

from pymongo import ReturnDocument
from pymongo.collection import Collection

from database import connection

ATTEMPTS = 100  # each lost race means another writer's update went through: progress is being made
# after a lost race, a random pause growing with each one, so that writers racing for one document spread
# out instead of reading and failing in step
PAUSE_SEC, PAUSE_MAX_SEC = 0.001, 0.05


def _top(path: str) -> str:
    return path.split(".", 1)[0]


def _as_read(doc: dict, fields) -> dict:
    """Conditions that hold while each of `fields` still holds what `doc` has."""
    return {field: doc.get(field, {"$exists": False}) for field in fields if field != "_id"}


def _plan(projection: dict | None) -> tuple[dict | None, set[str] | None]:
    """What to read (with `_id`, which the compare-and-set names) and the fields an inclusion shows (None:
    no projection, or an exclusion: the whole document is read)."""
    if projection is None or any(not v for k, v in projection.items() if k != "_id"):
        return None, None
    shown = {_top(k) for k in projection if k != "_id"}
    return {"_id": 1, **{field: 1 for field in shown}}, shown


def _answer(doc: dict, projection: dict | None, shown: set[str] | None) -> dict:
    """`doc` as the caller's projection shows it."""
    if projection is None:
        return doc
    out = {"_id": doc["_id"]} if projection.get("_id", 1) else {}
    for key, value in doc.items():
        if key != "_id" and (key in shown if shown is not None else projection.get(key, 1)):
            out[key] = value
    return out


def find_one_and_update_before(collection: Collection, filter_: dict, update, *, projection: dict | None = None,
                               upsert: bool = False, sort=None,
                               return_document: bool = ReturnDocument.BEFORE) -> dict | None:
    """`collection.find_one_and_update(filter_, update, return_document=BEFORE)`, atomic on every server:
    the document before the update (the fields `projection` names, or all), None when nothing matched
    (or an upsert inserted). `return_document` is there for callers that pass pymongo's arguments
    along: it must be BEFORE."""
    if return_document != ReturnDocument.BEFORE:
        raise ValueError("find_one_and_update_before answers the document before the update")
    if not connection.is_embedded(collection.database):
        return collection.find_one_and_update(filter_, update, projection=projection, upsert=upsert, sort=sort,
                                              return_document=ReturnDocument.BEFORE)
    read, shown = _plan(projection)
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(PAUSE_MAX_SEC, PAUSE_SEC * 2 ** min(attempt, 16))))
        current = collection.find_one(filter_, read, sort=sort)
        if current is None:
            if not upsert:
                return None
            # a first write of the key: no document to compare with; a concurrent first write meets the
            # key's unique index (DuplicateKeyError, which the caller already handles) or finds it here
            return collection.find_one_and_update(filter_, update, projection=projection, upsert=True, sort=sort,
                                                  return_document=ReturnDocument.BEFORE)
        # the fields shown, absent ones included; of a whole document, those it has
        condition = {"$and": [filter_, {"_id": current["_id"]}, _as_read(current, current if shown is None else shown)]}
        # asked for "before" as the caller did: a change recorder wrapping `collection` takes the old
        # values for its entry from that answer
        if collection.find_one_and_update(condition, update, projection=projection,
                                          return_document=ReturnDocument.BEFORE) is not None:
            return _answer(current, projection, shown)
    raise RuntimeError("the document kept changing under the update")
