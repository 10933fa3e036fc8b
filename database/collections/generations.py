"""Change counters shared by every process through MongoDB: one document per name in `generations`.

A process that keeps something derived from shared data (verified key pairs, pages of a collection)
reads the counter, keeps what it derived under the value it read, and trusts it only while the counter
still has that value. Whoever changes the data increments the counter before its call answers, so a
change is never hidden from a call that starts after it.
"""

from __future__ import annotations

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database.collections import point_read

GENERATIONS = "generations"


def read(db: Database, name: str) -> int:
    doc = point_read.find_by_id(db[GENERATIONS], name, {"n": 1})
    return int(doc["n"]) if doc else 0


def bump(db: Database, name: str) -> None:
    try:
        db[GENERATIONS].update_one({"_id": name}, {"$inc": {"n": 1}}, upsert=True)
    except DuplicateKeyError:  # two first increments raced to insert it: the other one did
        db[GENERATIONS].update_one({"_id": name}, {"$inc": {"n": 1}})
