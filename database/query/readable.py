"""Listings that survive a stored document the database cannot send back.

A document stored before the write-time limits of server.request_data (or by other means) can be one
the database fails on when it projects it (the embedded server gives up on nesting past a few hundred
levels): the whole find fails, and with it every listing that meets the document, for every company
that can see it. Here such a find is retried as ids first, then one document at a time, leaving out
(with a logged error) the ones that still fail, so the others are listed.

A listing is also bounded in bytes (`max_bytes`, server.max_reply_bytes): its documents arrive as
undecoded BSON, whose size is known for free, and reading stops at the first one past the bound, so a
page of huge documents is never held whole. Only the documents that fit are decoded, each once, and
together at the end. A projection applied here (local_projection.py) never makes a document larger, so
raw sizes bound the page until they reach the bound; from there each document is decoded as it arrives
and counted at its projected size, as the database would have sent it.
"""

from __future__ import annotations

import logging

from bson import decode, decode_all
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from database.query.local_projection import Local

log = logging.getLogger("modelreg.database")


class Bounded:
    """Collects documents up to `max_bytes` of BSON (0: no bound); `cut` tells whether one was left out."""

    def __init__(self, collection: Collection, max_bytes: int, local: Local | None = None):
        self.max_bytes = max_bytes
        self.options = collection.codec_options
        self.local = local
        self.size = 0
        self.cut = False
        # in order: documents to decode at the end (their raw BSON as the driver hands it over, bytes or
        # a memoryview of its reply), or decoded and projected already (dict)
        self._kept: list = []

    @property
    def local(self) -> Local | None:
        """A projection applied here rather than by the database (local_projection.py)."""
        return self._local

    @local.setter
    def local(self, local: Local | None) -> None:
        self._local = local
        # with `local`: whether `size` counts projected sizes; until the raw sizes reach the bound they
        # need not, as a projection never makes a document larger
        self._exact = local is None

    def source(self, collection: Collection) -> Collection:
        """The collection to read from: one that hands documents over undecoded when bounded."""
        if not self.max_bytes:
            return collection
        return collection.with_options(codec_options=self.options.with_options(document_class=RawBSONDocument))

    def read(self, cursor) -> list[dict]:
        """Every document of `cursor` up to the bound; the cursor is closed at the first past it."""
        if not self.max_bytes:
            return self.projected(list(cursor))
        with cursor:
            for doc in cursor:
                if not self.add(doc):
                    break
        return self.documents()

    def add(self, doc: RawBSONDocument) -> bool:
        raw = doc.raw
        if not self._exact and self.size + len(raw) > self.max_bytes:
            self._count_projected()
        if self._exact and self.local is not None:
            kept = decode(raw, self.options)
            self.size += self.local.size(kept, len(raw))
            kept = self.local.apply(kept)
        else:
            self.size += len(raw)
            kept = raw
        if self.size > self.max_bytes:
            self.cut = True
            return False
        self._kept.append(kept)
        return True

    def _count_projected(self) -> None:
        """From here on the bound counts each document as the database would have sent it projected:
        what was kept so far is decoded and counted again so."""
        self._exact, self.size = True, 0
        for number, raw in enumerate(self._kept):
            decoded = decode(raw, self.options)
            self.size += self.local.size(decoded, len(raw))
            self._kept[number] = self.local.apply(decoded)

    def restart(self) -> None:
        self.size, self.cut, self._kept, self._exact = 0, False, [], self.local is None

    def documents(self) -> list[dict]:
        """The kept documents decoded (each run of undecoded ones in one call) and projected."""
        docs: list[dict] = []
        run: list[bytes] = []
        for kept in [*self._kept, None]:
            if kept is not None and not isinstance(kept, dict):
                run.append(kept)
                continue
            if run:
                docs.extend(self.projected(decode_all(b"".join(run), self.options)))
                run = []
            if kept is not None:
                docs.append(kept)
        return docs

    def projected(self, docs: list[dict]) -> list[dict]:
        return docs if self.local is None else [self.local.apply(doc) for doc in docs]


def find_list(collection: Collection, match: dict, projection: dict | None, sort: list | None,
              skip: int, limit: int, bound: Bounded | None = None) -> list[dict]:
    bound = bound or Bounded(collection, 0)
    source = bound.source(collection)

    def cursor(fields, where=source):
        found = where.find(match, fields).skip(skip).limit(limit)
        return found.sort(sort) if sort else found

    try:
        return bound.read(cursor(projection))
    except OperationFailure as exc:
        if exc.timeout:
            raise
        bound.restart()
        # a query the server cannot run at all fails here
        ids = [doc["_id"] for doc in cursor({"_id": 1}, collection)]
    docs = []
    for doc_id in ids:
        try:
            doc = source.find_one({"_id": doc_id}, projection)
        except OperationFailure as exc:
            if exc.timeout:
                raise
            log.error("left out of a %s listing, the database cannot send it: _id=%s (%s)",
                      collection.name, doc_id, exc.details.get("errmsg") if exc.details else exc)
            continue
        if doc is not None:
            if not bound.max_bytes:
                docs.append(bound.projected([doc])[0])
            elif not bound.add(doc):
                break
    return docs if not bound.max_bytes else bound.documents()
