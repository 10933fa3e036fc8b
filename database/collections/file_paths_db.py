"""Where a `/files` path's bytes are: collection `file_paths`, one document per (company, path) the ClearML
files protocol wrote: `{_id: "<company>:<sha256 of the object path>", company, path (the object path
`<company>/<path>`), key (the object holding the bytes), sha256, size, content_type, content (True when
the path holds one reference of the company's content record), updated}`.

A path without a document is served from the object at its own key (files written before paths were
content-addressed). The document of a path is replaced and deleted only by operations that return
the document they replaced or deleted, so each version of a path gives its content reference back
exactly once, whatever runs at the same time.
"""

from __future__ import annotations

import hashlib

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock
from database.collections import replaced
from database.collections.scoped import Resource, ScopedCollection, both

FILE_PATHS = "file_paths"
RESOURCE = Resource("file_paths", FILE_PATHS, shareable=False)


def ensure_indexes(db: Database) -> None:
    db[FILE_PATHS].create_index([("company", ASCENDING), ("key", ASCENDING)])


class FilePaths(ScopedCollection):
    resource = RESOURCE

    def _id(self, path_key: str) -> str:
        # object paths run to ~1 KB: an id of fixed length keeps every index entry small
        return f"{self.company}:{hashlib.sha256(path_key.encode()).hexdigest()}"

    def lookup(self, path_key: str) -> dict | None:
        return self.collection.find_one(both({"_id": self._id(path_key)}, self.writable()))

    def point(self, path_key: str, target: dict) -> dict | None:
        """Points the path at `target` (key, sha256, size, content_type, content); returns the document it
        replaced (whose reference the caller gives back), or None when the path had none."""
        fields = {"company": self.company, "path": path_key, "updated": clock.now(),
                  **{k: target[k] for k in ("key", "sha256", "size", "content_type", "content")}}
        for _ in range(2):  # two first writes of one path at once: the loser of the insert replaces
            try:
                return replaced.find_one_and_update_before(
                    self.collection, both({"_id": self._id(path_key)}, self.writable()), {"$set": fields},
                    upsert=True)
            except DuplicateKeyError:
                continue
        raise RuntimeError("the path's document kept changing")  # not reached: the second try updates

    def drop(self, path_key: str) -> dict | None:
        """Deletes the path's document; returns it (the caller gives its reference back), or None."""
        return self.collection.find_one_and_delete(both({"_id": self._id(path_key)}, self.writable()))

    def uses_key(self, key: str) -> bool:
        """Whether a path of the company is served from the object `key`."""
        return self.collection.find_one(both({"key": key}, self.writable()), {"_id": 1}) is not None
