"""The change log: one entry per state change made through the API, per company, append-only.

Entries are inserted without `seq` (database/collections/recording.py, right after the write they
record is acknowledged) with a journaled write concern. The sequencer (services/changes/sequencer.py)
later gives them gapless per-company numbers and hash-chains them; `change_log_heads` holds each
company's last number and hash. A partial unique index on (company, seq) makes two sequencers that
overlap (a lease that expired under a slow holder) unable to give one number twice. Readers see
numbered entries only. No API endpoint changes or deletes entries; the retention sweep deletes the
oldest numbered ones and remembers the first number kept.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

CHANGE_LOG = "change_log"
HEADS = "change_log_heads"
_NUMBERED = {"seq": {"$exists": True}}


def ensure_indexes(db: Database) -> None:
    log = db[CHANGE_LOG]
    log.create_index([("company", ASCENDING), ("seq", ASCENDING)], unique=True,
                     partialFilterExpression=_NUMBERED, name="company_seq")
    log.create_index([("company", ASCENDING), ("acked_ns", ASCENDING)], name="company_acked")
    log.create_index([("company", ASCENDING), ("target.id", ASCENDING), ("time", ASCENDING)], name="company_target")


def insert_entries(db: Database, entries: list[dict]) -> None:
    """Inserts one write's entries, journaled: once an entry is on disk, so is the change it follows (the
    journal is written in order), and the call then needs no journal flush of its own
    (database/connection.py one_flush).

    Sent as a plain `insert` command, which pymongo never retries: a retried insert could land on a
    database restarted after a crash that lost the (acknowledged, not yet journaled) change, leaving an
    entry without its change. Unretried, the insert fails with that server and the call with it."""
    reply = db.command({"insert": CHANGE_LOG, "documents": entries, "ordered": True,
                        "writeConcern": {"w": 1, "j": True}})
    problem = reply.get("writeErrors") or reply.get("writeConcernError")
    if problem:
        raise OperationFailure(f"change-log entries not stored: {problem}")


# --- reading --------------------------------------------------------------------------------------


def entries_after(db: Database, company: str, after_seq: int, kinds: list[str] | None = None,
                  limit: int = 100) -> list[dict]:
    """Numbered entries of `company` after `after_seq`, by seq (the change feed and webhooks read this)."""
    query: dict = {"company": company, "seq": {"$gt": int(after_seq)}}
    if kinds:
        query["kind"] = {"$in": list(kinds)}
    return list(db[CHANGE_LOG].find(query).sort("seq", ASCENDING).limit(max(1, int(limit))))


def first_time_after(db: Database, company: str, seq: int) -> datetime | None:
    """The time of `company`'s first numbered entry after `seq`, None when there is none. An index range
    without a sort answers whether there is one (cheap on both servers; the log itself, not the head,
    which a sequencer that died may have left behind); numbers are gapless, so the first is then the
    point read of seq + 1 (gone only when retention deleted it: the entry found stands in)."""
    found = db[CHANGE_LOG].find_one({"company": company, "seq": {"$gt": int(seq)}}, {"seq": 1, "time": 1})
    if found is None:
        return None
    if found.get("seq") != int(seq) + 1:
        first = db[CHANGE_LOG].find_one({"company": company, "seq": int(seq) + 1}, {"time": 1})
        found = first if first is not None else found
    return found.get("time")


def find_entries(db: Database, company: str, condition: dict, skip: int, limit: int) -> list[dict]:
    """A page of `company`'s numbered entries matching `condition`, newest first."""
    query = {**condition, "company": company, "seq": {"$exists": True}}
    return list(db[CHANGE_LOG].find(query).sort("seq", DESCENDING).skip(skip).limit(limit))


def scan(db: Database, company: str, batch: int = 1000):
    """Every numbered entry of `company`, by seq (verification)."""
    return db[CHANGE_LOG].find({"company": company, **_NUMBERED}).sort("seq", ASCENDING).batch_size(batch)


def target_history(db: Database, company: str, target_ids: list[str], until: datetime) -> list[dict]:
    """Numbered entries about any of `target_ids` made up to `until`, oldest first."""
    return list(db[CHANGE_LOG].find({"company": company, "target.id": {"$in": target_ids},
                                     "time": {"$lte": until}, **_NUMBERED}).sort("seq", ASCENDING))


def head(db: Database, company: str) -> dict:
    """{last_seq, hash, first_seq} of `company` (zeros for a company with no numbered entry)."""
    doc = db[HEADS].find_one({"_id": company}) or {}
    return {"last_seq": int(doc.get("last_seq", 0)), "hash": doc.get("hash", ""),
            "first_seq": int(doc.get("first_seq", 1))}


def last_numbered(db: Database, company: str) -> dict | None:
    """The entry with the highest seq: the head to trust when a sequencer died before moving the head."""
    return db[CHANGE_LOG].find_one({"company": company, **_NUMBERED}, {"seq": 1, "hash": 1},
                                   sort=[("seq", DESCENDING)])


# --- numbering (the sequencer's) ------------------------------------------------------------------


def pending(db: Database, company: str, settled_before: int | None, limit: int) -> list[dict]:
    """Unnumbered entries of `company`, in order of acknowledgement; only those acknowledged before
    `settled_before` (ns since the epoch) when given."""
    query: dict = {"company": company, "seq": {"$exists": False}}
    if settled_before is not None:
        query["acked_ns"] = {"$lt": settled_before}
    return list(db[CHANGE_LOG].find(query).sort("acked_ns", ASCENDING).limit(limit))


def youngest_pending(db: Database, company: str) -> int | None:
    """acked_ns of the latest unnumbered entry of `company`, or None."""
    doc = db[CHANGE_LOG].find_one({"company": company, "seq": {"$exists": False}}, {"acked_ns": 1},
                                  sort=[("acked_ns", DESCENDING)])
    return None if doc is None else int(doc.get("acked_ns", 0))


def companies_pending(db: Database) -> list[str]:
    return [c for c in db[CHANGE_LOG].distinct("company", {"seq": {"$exists": False}}) if isinstance(c, str)]


def number(db: Database, numbered: list[tuple[str, int, str, str]]) -> bool:
    """Sets (entry id, seq, hash, prev_hash) on unnumbered entries; False when another sequencer
    numbered one of them or took one of the numbers (nothing of this batch should then count)."""
    if not numbered:
        return True
    ops = [UpdateOne({"_id": i, "seq": {"$exists": False}}, {"$set": {"seq": s, "hash": h, "prev_hash": p}})
           for i, s, h, p in numbered]
    try:
        result = db[CHANGE_LOG].bulk_write(ops, ordered=True)
    except (BulkWriteError, DuplicateKeyError):
        return False
    return result.modified_count == len(ops)


def unnumber(db: Database, numbered: list[tuple[str, int, str, str]]) -> None:
    """Takes back numbers this sequencer set (its batch lost the race for the head)."""
    for i, s, h, _ in numbered:
        db[CHANGE_LOG].update_one({"_id": i, "seq": s, "hash": h}, {"$unset": {"seq": "", "hash": "", "prev_hash": ""}})


def move_head(db: Database, company: str, from_seq: int, to_seq: int, hash_: str) -> bool:
    """Moves the head from `from_seq` to `to_seq` unless someone else moved it meanwhile."""
    try:
        result = db[HEADS].update_one({"_id": company, "last_seq": from_seq},
                                      {"$set": {"last_seq": to_seq, "hash": hash_, "company": company}},
                                      upsert=from_seq == 0)
    except DuplicateKeyError:
        return False
    return bool(result.matched_count or result.upserted_id is not None)


def set_head(db: Database, company: str, last_seq: int, hash_: str) -> None:
    """Brings the head up to entries numbered by a sequencer that died before moving it."""
    db[HEADS].update_one({"_id": company, "last_seq": {"$lt": last_seq}},
                         {"$set": {"last_seq": last_seq, "hash": hash_, "company": company}}, upsert=True)


# --- retention ------------------------------------------------------------------------------------


def delete_before(db: Database, company: str, before: datetime) -> int:
    """Deletes `company`'s numbered entries older than `before` and records the first seq kept."""
    last_old = db[CHANGE_LOG].find_one({"company": company, "time": {"$lt": before}, **_NUMBERED}, {"seq": 1},
                                       sort=[("seq", DESCENDING)])
    if last_old is None:
        return 0
    cut = int(last_old["seq"])
    db[HEADS].update_one({"_id": company, "first_seq": {"$not": {"$gt": cut}}},
                         {"$set": {"first_seq": cut + 1, "company": company}})
    return db[CHANGE_LOG].delete_many({"company": company, "seq": {"$lte": cut}}).deleted_count


def companies_with_entries(db: Database) -> list[str]:
    return [d["_id"] for d in db[HEADS].find({}, {"_id": 1})]


class CompanyLog:
    """One company's change log as its readers see it (`scope.change_log`): numbered entries only."""

    def __init__(self, db: Database, company: str):
        self.db = db  # the sequencer numbers through it (services/changes/sequencer.py)
        self.company = company

    def after(self, seq: int, kinds: list[str] | None, limit: int) -> list[dict]:
        return entries_after(self.db, self.company, seq, kinds, limit)

    def page(self, condition: dict, skip: int, limit: int) -> list[dict]:
        return find_entries(self.db, self.company, condition, skip, limit)

    def export(self, condition: dict):
        """A cursor over every matching entry, newest first (NDJSON exports)."""
        query = {**condition, "company": self.company, **_NUMBERED}
        return self.db[CHANGE_LOG].find(query).sort("seq", DESCENDING).batch_size(500)

    def scan(self):
        return scan(self.db, self.company)

    def head(self) -> dict:
        return head(self.db, self.company)

    def history(self, target_ids: list[str], until: datetime) -> list[dict]:
        return target_history(self.db, self.company, target_ids, until)

    def since(self, target_ids: list[str], after: datetime) -> list[dict]:
        """Numbered entries about any of `target_ids` made after `after`, newest first."""
        return list(self.db[CHANGE_LOG].find({"company": self.company, "target.id": {"$in": target_ids},
                                              "time": {"$gt": after}, **_NUMBERED}).sort("seq", DESCENDING))
