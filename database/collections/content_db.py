"""Content-addressed files and their reference counts: collection `content_files`, one document per
(company, sha256): `{_id: "<company>:<sha256>", company, sha256, size, key, state: pending | ready,
upload (the session holding a pending claim), claim_until, refs, unreferenced_since}`.

`refs` counts the models whose file is this content and the `/files` paths served from it
(database/collections/file_paths_db.py); it changes only by `$inc` on one document, so
two deletes (or a delete and a new reference) at once never lose a count, and the object is removed
only by the caller whose conditional delete of the document (refs <= 0) succeeded. A `pending`
document is a claim: one upload session is writing the object at the content's own key, so no other
writer can replace bytes that were verified. A claim lapses at `claim_until`; an upload session holds
it again (`claim`) before each write to or removal of the key, and one that lost it writes nothing there.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock
from database.collections.scoped import Resource, ScopedCollection, both

CONTENT = "content_files"
RESOURCE = Resource("content_files", CONTENT, shareable=False)
PENDING, READY = "pending", "ready"


def ensure_indexes(db: Database) -> None:
    db[CONTENT].create_index([("state", ASCENDING), ("unreferenced_since", ASCENDING)])
    db[CONTENT].create_index([("company", ASCENDING), ("key", ASCENDING)])


class ContentFiles(ScopedCollection):
    resource = RESOURCE

    def _id(self, sha256: str) -> str:
        return f"{self.company}:{sha256.lower()}"

    def ready(self, sha256: str, size: int | None = None) -> dict | None:
        condition = {"_id": self._id(sha256), "state": READY}
        if size is not None:
            condition["size"] = size
        return self.collection.find_one(both(condition, self.writable()))

    def holds_key(self, key: str) -> bool:
        """Whether the object `key` is (or is being written as) content of the company."""
        return self.collection.find_one(both({"key": key}, self.writable()), {"_id": 1}) is not None

    def claim(self, sha256: str, size: int, key: str, upload_id: str, lease_sec: float) -> bool:
        """Claims the content's own key for one upload session until `lease_sec` from now, or holds the
        session's claim that long again (its own claim, even lapsed, as long as nobody took it); False
        when the content is ready or another live session holds the claim. One write, so a writer that
        holds its claim right before writing to or deleting the key knows no other writer can until
        the lease ends, whichever process or host either runs on."""
        now = clock.now()
        doc = {"_id": self._id(sha256), "company": self.company, "sha256": sha256.lower(), "size": size, "key": key,
               "state": PENDING, "upload": upload_id, "claim_until": now + timedelta(seconds=lease_sec), "refs": 0}
        fields = {"$set": {k: v for k, v in doc.items() if k != "_id"}}
        # the session's own claim (each part holds it again), then a new one, then a lapsed one taken over:
        # three plain filters rather than one `$or`, which the embedded server would answer by a scan
        held = self.collection.update_one(both({"_id": doc["_id"], "state": PENDING, "upload": upload_id},
                                               self.writable()), fields)
        if held.matched_count == 1:
            return True
        try:
            self.collection.insert_one(doc)
            return True
        except DuplicateKeyError:  # ready, or another session's claim: taken only once it lapsed
            pass
        taken = self.collection.update_one(both({"_id": doc["_id"], "state": PENDING, "claim_until": {"$lt": now}},
                                                self.writable()), fields)
        return taken.matched_count == 1

    def release_claim(self, sha256: str, upload_id: str) -> None:
        self.collection.delete_one(both({"_id": self._id(sha256), "state": PENDING, "upload": upload_id},
                                        self.writable()))

    def make_ready(self, sha256: str, size: int, key: str, refs: int, upload_id: str | None = None) -> dict | None:
        """Records verified content at `key` with `refs` references: turns the session's claim into a
        ready document, or (no claim) inserts one. When the content is already ready under another key,
        adds `refs` to it instead and returns it (the caller then drops its own copy at `key`)."""
        now = clock.now()
        fields = {"size": size, "key": key, "state": READY, "refs": refs,
                  "unreferenced_since": None if refs else now}
        if upload_id is not None:
            doc = self.collection.find_one_and_update(
                both({"_id": self._id(sha256), "state": PENDING, "upload": upload_id}, self.writable()),
                {"$set": fields, "$unset": {"upload": "", "claim_until": ""}}, return_document=ReturnDocument.AFTER)
            if doc is not None:
                return doc
        try:
            doc = {"_id": self._id(sha256), "company": self.company, "sha256": sha256.lower(), **fields}
            self.collection.insert_one(doc)
            return doc
        except DuplicateKeyError:
            return self.acquire(sha256, size, refs)

    def acquire(self, sha256: str, size: int | None = None, refs: int = 1) -> dict | None:
        """Adds `refs` references to ready content; None when the company holds no such content."""
        condition = {"_id": self._id(sha256), "state": READY}
        if size is not None:
            condition["size"] = size
        update = {"$inc": {"refs": refs}}
        if refs:
            update["$set"] = {"unreferenced_since": None}
        return self.collection.find_one_and_update(both(condition, self.writable()), update,
                                                   return_document=ReturnDocument.AFTER)

    def release(self, sha256: str) -> dict | None:
        """Drops one reference; returns the document when this was the last one and it is now deleted
        (the caller removes the object), else None."""
        doc = self.collection.find_one_and_update(
            both({"_id": self._id(sha256), "state": READY, "refs": {"$gt": 0}}, self.writable()),
            {"$inc": {"refs": -1}}, return_document=ReturnDocument.AFTER)
        if doc is None or doc["refs"] > 0:
            return None
        gone = self.collection.delete_one(both({"_id": doc["_id"], "refs": {"$lte": 0}}, self.writable()))
        return doc if gone.deleted_count == 1 else None


def unreferenced(db: Database, older_than_sec: float, limit: int = 100) -> list[dict]:
    """Ready content of every company that no model referenced for `older_than_sec`, and claims whose
    session died: the sweep removes them for everyone, so it crosses companies on purpose."""
    cutoff = clock.now() - timedelta(seconds=older_than_sec)
    return list(db[CONTENT].find({"$or": [
        {"state": READY, "refs": {"$lte": 0}, "unreferenced_since": {"$lt": cutoff}},
        {"state": PENDING, "claim_until": {"$lt": cutoff}},
    ]}).limit(limit))


def forget(db: Database, doc: dict) -> bool:
    """Deletes a document unreferenced() returned unless it changed since (a new reference or claim)."""
    condition = {"_id": doc["_id"], "state": doc["state"]}
    if doc["state"] == READY:
        condition["refs"] = {"$lte": 0}
    else:
        condition["upload"] = doc.get("upload")
    return db[CONTENT].delete_one(condition).deleted_count == 1
