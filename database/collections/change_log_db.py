"""The change log: one entry per state change made through the API, per company, append-only.

Entries are first inserted into `change_log_pending`, unnumbered (database/collections/recording.py: the
entries of each write right after it, journaled). The sequencer (services/changes/sequencer.py) later
gives them gapless per-company numbers and hash-chains them: it inserts each batch, numbered, into
`change_log`, moves the company's head (`change_log_heads`: last number and hash), then deletes the
batch from `change_log_pending`. Readers see `change_log`, numbered entries only. A partial unique index
on (company, seq) makes two sequencers that overlap (a lease that expired under a slow holder) unable to
give one number twice, and the shared `_id` one entry a place twice. No API endpoint changes or deletes
entries; the retention sweep deletes the oldest numbered ones and remembers the first number kept.

Why two collections rather than a mark on one: numbering by inserting a batch and deleting it elsewhere
is one statement each, while setting the numbers costs one update per entry, and on the embedded
server an update rewrites every index entry of its document (about three times the database CPU of the
insert and the delete together, measured); pending entries also stay out of the log's indexes.

Index shapes serve both servers: the embedded one plans a compound index only for equalities plus ONE
range field, and uses a partial index only when the query provably falls inside its filter with range
operators (`$exists` it cannot reason about). So numbered entries are those with `seq >= 0` (every query
on seq says a bound at or above 0).
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, WriteConcern
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from database import connection

CHANGE_LOG = "change_log"
PENDING = "change_log_pending"
HEADS = "change_log_heads"
_NUMBERED = {"seq": {"$gte": 0}}  # (not `$exists`: see the module docstring)
_UNJOURNALED = WriteConcern(w=1, j=False)
# indexes of earlier releases, dropped by database/migrations/m0002_change_log_indexes.py
OLD_INDEXES = ("company_seq", "company_acked")
# Entries an earlier release marks `pending` in the log itself (a host not upgraded yet, during a rolling
# upgrade) are found through this partial index, which holds nothing else, and moved to PENDING
# (`adopt_marked`: database/migrations/m0007_pending_entries_apart.py, and every delivery round).
_MARKED = {"pending": {"$eq": True}}
MARKED_INDEX = "pending_company_acked"


def ensure_indexes(db: Database) -> None:
    log = db[CHANGE_LOG]
    log.create_index([("company", ASCENDING), ("seq", ASCENDING)], unique=True,
                     partialFilterExpression=_NUMBERED, name="company_seq_numbered")
    log.create_index([("pending", ASCENDING), ("company", ASCENDING), ("acked_ns", ASCENDING)],
                     partialFilterExpression=_MARKED, name=MARKED_INDEX)
    log.create_index([("company", ASCENDING), ("target.id", ASCENDING), ("time", ASCENDING)], name="company_target")
    db[PENDING].create_index([("company", ASCENDING), ("acked_ns", ASCENDING)], name="company_acked")


def insert_entries(db: Database, entries: list[dict]) -> None:
    """Inserts the entries of one write unnumbered, right after it, journaled: once an entry is on disk,
    so is its change (the journal is written in order), and a call whose last write is an entry needs no
    journal flush of its own (database/connection.py).

    Sent as a plain `insert` command, which pymongo never retries: a retried insert could land on a
    database restarted after a crash that lost the (acknowledged, not yet journaled) change, leaving an
    entry without its change. Unretried, the insert fails with that server and the call with it. Not sent
    at all once the server process differs from the one the change was sent to: a fresh connection would
    reach the restarted server just the same (connection.entries_may_follow)."""
    connection.entries_may_follow(db)
    reply = db.command({"insert": PENDING, "documents": entries, "ordered": True,
                        "writeConcern": {"w": 1, "j": True}})
    problem = reply.get("writeErrors") or reply.get("writeConcernError")
    if problem:
        raise OperationFailure(f"change-log entries not stored: {problem}")


# --- reading --------------------------------------------------------------------------------------


def entries_after(db: Database, company: str, after_seq: int, kinds: list[str] | None = None,
                  limit: int = 100) -> list[dict]:
    """Numbered entries of `company` after `after_seq` up to the head, by seq (the change feed and webhooks
    read this). Entries above the head are not served: their sequencer has not moved the head yet and
    may still take their numbers back (its batch lost a race, or the database restarted), and a reader
    whose cursor passed a number given again would never see the entry that finally holds it.

    Without kinds, numbers are gapless from the first kept, so the next `limit` entries are the range
    (after_seq, after_seq + limit]: asked as that range, a reader far behind costs `limit` documents, not
    its whole backlog (the embedded server fetches and sorts every candidate before the first answer).
    A range that does not start right after `after_seq` (a cursor before the first entry kept) is asked
    again unbounded."""
    start, limit = max(int(after_seq), 0), max(1, int(limit))
    last = head(db, company)["last_seq"]
    if start >= last:
        return []
    log = db[CHANGE_LOG]
    if kinds:
        query = {"company": company, "seq": {"$gt": start, "$lte": last}, "kind": {"$in": list(kinds)}}
        return list(log.find(query).sort("seq", ASCENDING).limit(limit))
    found = list(log.find({"company": company, "seq": {"$gt": start, "$lte": min(start + limit, last)}})
                 .sort("seq", ASCENDING).limit(limit))
    if found and found[0]["seq"] == start + 1:
        return found
    return list(log.find({"company": company, "seq": {"$gt": start, "$lte": last}}).sort("seq", ASCENDING)
                .limit(limit))


def first_time_after(db: Database, company: str, seq: int) -> datetime | None:
    """The time of `company`'s first numbered entry after `seq`, None when there is none (the log itself,
    not the head, which a sequencer that died may have left behind). Numbers are gapless, so the next one
    is a point read; only when it is gone (retention deleted it, or there is none) is the log asked for
    any later entry, without a sort, so a backlog is never fetched (see entries_after)."""
    start = max(int(seq), 0)
    log = db[CHANGE_LOG]
    found = log.find_one({"company": company, "seq": start + 1}, {"time": 1})
    if found is None:
        found = log.find_one({"company": company, "seq": {"$gt": start}}, {"time": 1})
    return found.get("time") if found is not None else None


def find_entries(db: Database, company: str, condition: dict, skip: int, limit: int) -> list[dict]:
    """A page of `company`'s numbered entries matching `condition`, newest first."""
    query = {**condition, "company": company, **_NUMBERED}
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


def heads_of(db: Database, companies) -> dict[str, int]:
    """{company: last seq} of the companies' heads, in one read (a company with none is left out)."""
    wanted = sorted({c for c in companies if isinstance(c, str)})
    if not wanted:
        return {}
    found = db[HEADS].find({"_id": {"$in": wanted}}, {"last_seq": 1})
    return {doc["_id"]: int(doc.get("last_seq", 0)) for doc in found}


def last_numbered(db: Database, company: str, after_seq: int = 0) -> dict | None:
    """The entry with the highest seq above `after_seq` (the head's), or None: the head to trust when a
    sequencer died before moving the head. Only entries past the head are candidates (the embedded
    server sorts every candidate before its first answer)."""
    return db[CHANGE_LOG].find_one({"company": company, "seq": {"$gt": max(int(after_seq), 0)}},
                                   {"seq": 1, "hash": 1}, sort=[("seq", DESCENDING)])


# --- numbering (the sequencer's) ------------------------------------------------------------------


def pending(db: Database, company: str, settled_before: int | None, limit: int, covered_seq: int) -> list[dict]:
    """Unnumbered entries of `company`, in order of acknowledgement; only those acknowledged before
    `settled_before` (ns since the epoch) when given. An entry already in the log (its sequencer died
    before deleting it here, or is still at work) is left out, and deleted here once the head covers
    its number (`covered_seq`): a number above the head belongs to a sequencer that has not finished."""
    before = 2 ** 63 - 1 if settled_before is None else settled_before
    found = list(db[PENDING].find({"company": company, "acked_ns": {"$lt": before}})
                 .sort("acked_ns", ASCENDING).limit(limit))
    if not found:
        return found
    numbered = {doc["_id"]: doc.get("seq", 0) for doc in
                db[CHANGE_LOG].find({"_id": {"$in": [doc["_id"] for doc in found]}}, {"seq": 1})}
    covered = [entry_id for entry_id, seq in numbered.items() if seq <= covered_seq]
    if covered:
        db.get_collection(PENDING, write_concern=_UNJOURNALED).delete_many({"_id": {"$in": covered}})
    return [doc for doc in found if doc["_id"] not in numbered]


def adopt_marked(db: Database, limit: int = 500) -> int:
    """Moves up to `limit` entries marked `pending` in the log (by an earlier release) to PENDING, where
    the sequencer numbers them; returns how many. A copy already there (a move that died before its
    delete) is kept; an entry numbered in place meanwhile (by an earlier release's sequencer) stays in
    the log, and its copy is dropped by `pending` once the head covers it."""
    marked = list(db[CHANGE_LOG].find(_MARKED).limit(limit))
    if not marked:
        return 0
    try:
        db[PENDING].insert_many([{k: v for k, v in entry.items() if k != "pending"} for entry in marked],
                                ordered=False)
    except BulkWriteError as exc:
        if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
            raise
    db[CHANGE_LOG].delete_many({"_id": {"$in": [entry["_id"] for entry in marked]}, **_MARKED})
    return len(marked)


def youngest_pending(db: Database, company: str) -> int | None:
    """acked_ns of the latest unnumbered entry of `company`, or None."""
    doc = db[PENDING].find_one({"company": company, "acked_ns": {"$gte": 0}}, {"acked_ns": 1},
                               sort=[("acked_ns", DESCENDING)])
    return None if doc is None else int(doc.get("acked_ns", 0))


def companies_pending(db: Database) -> list[str]:
    return [c for c in db[PENDING].distinct("company") if isinstance(c, str)]


def number(db: Database, entries: list[dict], holder: str) -> bool:
    """Inserts pending entries into the log with their `seq`, `hash` and `prev_hash` set, marked as
    `holder`'s; False when another sequencer numbered one of them or took one of the numbers (nothing of
    this batch should then count).

    Unjournaled on purpose: the head's journaled compare-and-set that follows puts them on disk, and a
    crash before it loses a suffix of them at most (the journal is written in order), which the next
    sequencer's repair of the head and its next batch redo."""
    if not entries:
        return True
    try:
        result = db.get_collection(CHANGE_LOG, write_concern=_UNJOURNALED).insert_many(
            [{**entry, "numbered_by": holder} for entry in entries], ordered=True)
    except (BulkWriteError, DuplicateKeyError):
        return False
    return len(result.inserted_ids) == len(entries)


def unnumber(db: Database, company: str, entry_ids: list, holder: str) -> None:
    """Takes back the numbers `holder` gave (its batch lost the race for the head): its entries in the log
    above the head go; the pending ones stay to be numbered again. Another sequencer's entries, and
    `holder`'s that another sequencer already covered with the head, stay."""
    db[CHANGE_LOG].delete_many({"_id": {"$in": entry_ids}, "numbered_by": holder,
                                "company": company, "seq": {"$gt": head(db, company)["last_seq"]}})


def numbered_done(db: Database, entry_ids: list) -> None:
    """Deletes the pending copies of entries the head now covers (unjournaled: a copy left by a crash is
    recognised and deleted by `pending`)."""
    db.get_collection(PENDING, write_concern=_UNJOURNALED).delete_many({"_id": {"$in": entry_ids}})


def move_head(db: Database, company: str, from_seq: int, to_seq: int, hash_: str,
              numbered_on: object | None = None) -> bool:
    """Moves the head from `from_seq` to `to_seq` unless someone else moved it meanwhile, or (given the
    server process the batch was numbered on, connection.server_process) the server went away since: the
    numbers, written unjournaled, may be gone from a restarted server, and a head moved past them there
    would leave a gap."""
    if connection.went_away_since(db, numbered_on):
        return False
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
