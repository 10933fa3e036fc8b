"""Pages of a collection's listings, kept by each process while the collection's generation holds.

A registry is read far more often than it is written, and the web app, SDKs and CI jobs ask for the
same pages again and again. `query.find_page` keeps the documents of a plain page (not a scroll) here,
under the collection's generation (database/collections/generations.py) read before its query. The same query
later reads the generation (one point lookup by `_id`) and, while it is unchanged, decodes the kept
page instead of having the database select, sort and send it again.

Every write to a collection whose resource is `page_cached` goes through `NotifyingCollection`, which
increments the generation once the write is done and before the call that made it answers: a page
kept from before a change is never served after that change was acknowledged, on any host. A write
made around the API (a migration script) must increment it too (`generations.bump(db, "models")`);
kept pages also expire after `max_age_sec` whatever happens.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

import bson
from bson.errors import BSONError

from database.collections import generations

WRITES = frozenset({"insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
                    "delete_many", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
                    "bulk_write"})
MAX_PAGE_BYTES = 4 << 20  # a larger page is not kept


class NotifyingCollection:
    """A pymongo Collection whose every write increments the collection's generation afterwards (also
    after a failed write, which may have changed some documents)."""

    def __init__(self, collection):
        self._collection = collection

    def __getattr__(self, name: str):
        attr = getattr(self._collection, name)
        if name not in WRITES:
            return attr
        collection = self._collection

        def write(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            finally:
                generations.bump(collection.database, collection.name)

        return write


class PageCache:
    def __init__(self, max_entries: int, max_age_sec: float = 300.0):
        self.max_entries = max_entries
        self.max_age_sec = max_age_sec
        self._pages: OrderedDict[bytes, tuple[int, float, list[bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(*parts: Any) -> bytes | None:
        """The query's identity (collection, filter, sort, projection, skip, limit), or None when a part
        cannot be encoded (the page is then simply not kept)."""
        try:
            return bson.encode({str(n): part for n, part in enumerate(parts)})
        except (BSONError, TypeError, ValueError, OverflowError):
            return None

    def get(self, key: bytes | None, generation: int, codec_options: bson.CodecOptions) -> list[dict] | None:
        """The kept page, decoded as the driver would (`codec_options` of the collection)."""
        if key is None:
            return None
        with self._lock:
            entry = self._pages.get(key)
            if entry is None or entry[0] != generation or time.monotonic() - entry[1] > self.max_age_sec:
                return None
            self._pages.move_to_end(key)
        return [bson.decode(raw, codec_options=codec_options) for raw in entry[2]]

    def put(self, key: bytes | None, generation: int, docs: list[dict]) -> None:
        if key is None or self.max_entries <= 0:
            return
        try:
            raws = [bson.encode(doc) for doc in docs]
        except (BSONError, TypeError, ValueError, OverflowError):
            return
        if sum(len(raw) for raw in raws) > MAX_PAGE_BYTES:
            return
        with self._lock:
            self._pages[key] = (generation, time.monotonic(), raws)
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_entries:
                self._pages.popitem(last=False)
