"""Listings that survive a stored document the database cannot send back.

A document stored before the write-time limits of server.request_data (or by other means) can be one
the database fails on when it projects it (the embedded server gives up on nesting past a few hundred
levels): the whole find fails, and with it every listing that meets the document, for every company
that can see it. Here such a find is retried as ids first, then one document at a time, leaving out
(with a logged error) the ones that still fail, so the others are listed.

A listing is also bounded in bytes (`max_bytes`, server.max_reply_bytes): its documents arrive as
undecoded BSON, whose size is known for free, and reading stops at the first one past the bound, so a
page of huge documents is never held whole. Only the documents that fit are decoded, each once: one
projected here (local_projection.py) is decoded as it arrives and its size taken from the decoded fields.
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
        self.local = local  # a projection applied here rather than by the database (local_projection.py)
        self.size = 0
        self.cut = False
        self._raw: list[bytes] = []
        self._projected: list[dict] = []  # with `local`: the documents decoded and projected as they came

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
        if self.local is None:
            self.size += len(doc.raw)
        else:  # decoded here, not again in `documents`
            decoded = decode(doc.raw, self.options)
            self.size += self.local.size(decoded, len(doc.raw))
        if self.size > self.max_bytes:
            self.cut = True
            return False
        if self.local is None:
            self._raw.append(doc.raw)
        else:
            self._projected.append(self.local.apply(decoded))
        return True

    def restart(self) -> None:
        self.size, self.cut, self._raw, self._projected = 0, False, [], []

    def documents(self) -> list[dict]:
        if self.local is not None:
            return self._projected
        return decode_all(b"".join(self._raw), self.options)

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
