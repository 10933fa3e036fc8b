"""Prepared table exports (`organization.prepare_download_for_get_all`): the listing request a later
`organization.download_for_get_all` turns into a CSV file, kept a short while.

Collection `prepared_downloads`: `{_id (the prepare_id), company, user, request (the request as JSON
text: its keys are the client's, which MongoDB field names need not allow), created, expires}`; a TTL
index removes a prepared request once it expires, and a read ignores one past `expires` meanwhile (the
TTL monitor runs once a minute). A prepared request belongs to the user who made it: any other caller,
in the same company or another, finds nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta

from pymongo import ASCENDING
from pymongo.database import Database

from database import clock, ids

PREPARED = "prepared_downloads"


def ensure_indexes(db: Database) -> None:
    db[PREPARED].create_index([("expires", ASCENDING)], expireAfterSeconds=0, name="expires_ttl")


class PreparedDownloads:
    """One company's prepared exports (`scope.prepared_downloads`)."""

    def __init__(self, db: Database, company: str):
        self.db, self.company = db, company

    def save(self, user: str, request: dict, keep_sec: float) -> str:
        now = clock.now()
        prepare_id = ids.new_id()
        self.db[PREPARED].insert_one({"_id": prepare_id, "company": self.company, "user": user,
                                      "request": json.dumps(request, separators=(",", ":")), "created": now,
                                      "expires": now + timedelta(seconds=keep_sec)})
        return prepare_id

    def load(self, prepare_id: str, user: str) -> dict | None:
        """The request `user` prepared under `prepare_id`, None when there is none (or it expired)."""
        doc = self.db[PREPARED].find_one({"_id": prepare_id, "company": self.company, "user": user,
                                          "expires": {"$gt": clock.now()}}, {"request": 1})
        return None if doc is None else json.loads(doc["request"])
