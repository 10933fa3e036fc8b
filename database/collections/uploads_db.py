"""Resumable upload sessions: collection `uploads`, one document per session.

`{_id, company, user, size, sha256 (announced, or None), part_size, part_count, key, s3_upload, content_type,
state: open | completing | complete | aborted | failed, parts: {"<n>": {etag, sha256, size}}, created,
expires, completing_until, claim (whether the session claimed its content's key), file and shared (once
complete: False when another session's claim kept the file at the session's own key, unshared)}`.

Everything a resumed client needs is here, so any worker on any host serves any part of any session.
A part is recorded only while the session is open; completing is taken by one caller at a time with
a lease (`completing_until`), so two completes never both join the parts.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

from database import clock
from database.collections.scoped import Resource, ScopedCollection, both

UPLOADS = "uploads"
RESOURCE = Resource("uploads", UPLOADS, shareable=False)
OPEN, COMPLETING, COMPLETE, ABORTED, FAILED = "open", "completing", "complete", "aborted", "failed"


def ensure_indexes(db: Database) -> None:
    db[UPLOADS].create_index([("state", ASCENDING), ("expires", ASCENDING)])
    db[UPLOADS].create_index([("company", ASCENDING), ("created", ASCENDING)])


class Uploads(ScopedCollection):
    resource = RESOURCE

    def record_part(self, upload_id: str, number: int, part: dict, expires) -> bool:
        """Records a received part while the session is open, and pushes its expiry back to `expires`;
        False when it is no longer open."""
        return self._update_one({"_id": upload_id, "state": OPEN},
                                {"$set": {f"parts.{number}": part, "expires": expires}})

    def _update_one(self, condition: dict, update: dict) -> bool:
        return self.collection.update_one(both(condition, self.writable()), update).matched_count == 1

    def begin_complete(self, upload_id: str, lease_sec: float) -> dict | None:
        """Takes the session for completing (open, or a completer's lease ran out); None when another
        caller holds it or it is no longer open."""
        now = clock.now()
        return self.find_one_and_update(
            {"_id": upload_id, "$or": [{"state": OPEN}, {"state": COMPLETING, "completing_until": {"$lt": now}}]},
            {"$set": {"state": COMPLETING, "completing_until": now + timedelta(seconds=lease_sec)}},
            return_document=ReturnDocument.AFTER)

    def set_state(self, upload_id: str, state: str, expected: str | None = None, **fields) -> bool:
        condition = {"_id": upload_id} if expected is None else {"_id": upload_id, "state": expected}
        return self._update_one(condition, {"$set": {"state": state, **fields}})


def expired_sessions(db: Database, limit: int = 100) -> list[dict]:
    """Open sessions of every company past their expiry, and completes whose completer died long ago:
    the sweep (services/uploads/sweep.py) aborts them for everyone, so it crosses companies on purpose."""
    now = clock.now()
    return list(db[UPLOADS].find({"state": {"$in": [OPEN, COMPLETING]}, "expires": {"$lt": now}}).limit(limit))


def mark_expired(db: Database, upload_id: str, state: str) -> bool:
    """Moves one session found by expired_sessions to aborted, unless it changed since (a complete)."""
    return db[UPLOADS].update_one({"_id": upload_id, "state": state}, {"$set": {"state": ABORTED}}).matched_count == 1
