"""Listings that survive a stored document the database cannot send back.

A document stored before the write-time limits of server.request_data (or by other means) can be one
the database fails on when it projects it (the embedded server gives up on nesting past a few hundred
levels): the whole find fails, and with it every listing that meets the document, for every company
that can see it. Here such a find is retried as ids first, then one document at a time, leaving out
(with a logged error) the ones that still fail, so the others are listed.
"""

from __future__ import annotations

import logging

from pymongo.collection import Collection
from pymongo.errors import OperationFailure

log = logging.getLogger("modelreg.database")


def find_list(collection: Collection, match: dict, projection: dict | None, sort: list | None,
              skip: int, limit: int) -> list[dict]:
    def cursor(fields):
        found = collection.find(match, fields).skip(skip).limit(limit)
        return found.sort(sort) if sort else found

    try:
        return list(cursor(projection))
    except OperationFailure as exc:
        if exc.timeout:
            raise
        ids = [doc["_id"] for doc in cursor({"_id": 1})]  # a query the server cannot run at all fails here
    docs = []
    for doc_id in ids:
        try:
            doc = collection.find_one({"_id": doc_id}, projection)
        except OperationFailure as exc:
            if exc.timeout:
                raise
            log.error("left out of a %s listing, the database cannot send it: _id=%s (%s)",
                      collection.name, doc_id, exc.details.get("errmsg") if exc.details else exc)
            continue
        if doc is not None:
            docs.append(doc)
    return docs
