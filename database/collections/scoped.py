"""The one rule of which company's documents a caller sees and changes, for every resource.

A document belongs to the company in its `company` field; `company == ""` marks a public document,
which every company may read (when the resource can be shared) and none may change. A public document
remembers the company that shared it in `company_origin`: that company alone may take it back or delete
it (`get_owned`). Every read and write of a company's data goes through a `ScopedCollection`, made for
one company by `database.collections.scope.Scope`; nothing else in the code builds a company filter.

A resource (models, tasks, projects, ...) subclasses `ScopedCollection` with its own operations and
declares a `Resource` (collection name, query spec, hidden fields, whether documents can be public).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import bson
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DocumentTooLarge, OperationFailure

from database.collections import point_read, replaced
from database.collections.recording import Recorder, RecordingCollection
from database.connection import Collections
from database.errors import MAX_DOCUMENT_BYTES
from database.query import engine as query
from database.query import scroll
from database.query.page_cache import NotifyingCollection, PageCache
from database.query.time_windows import WINDOW_DOCUMENTS

PUBLIC = ""


@dataclass(frozen=True)
class Resource:
    name: str  # "models"
    collection: str  # MongoDB collection name
    spec: query.QuerySpec | None = None  # what its get_all accepts
    hidden_fields: tuple[str, ...] = ()  # stored, but returned only when a projection names them
    shareable: bool = True  # documents may be public (company "")
    # listings are kept per process while unchanged; every write then increments the collection's
    # generation (database/query/page_cache.py)
    page_cached: bool = False


@dataclass(frozen=True)
class PageLimits:
    """How listings are served: page size cap, scroll lifetime, and this process's page cache."""

    max_page_size: int = query.DEFAULT_MAX_PAGE_SIZE
    scroll_ttl_sec: int = scroll.DEFAULT_TTL_SEC
    page_cache: PageCache | None = None
    stream_window: int = WINDOW_DOCUMENTS  # documents a window of a time-ordered stream aims to hold
    max_reply_bytes: int = 0  # BSON bytes a listing page may hold (server.max_reply_bytes); 0: no bound


def _ids(ids: Iterable[str]) -> list[str]:
    return [i for i in dict.fromkeys(ids) if isinstance(i, str) and i]


_INTERNAL_ERROR = 1


def _would_pass_limit(doc: dict | None, update: dict | list) -> bool:
    """Whether `doc` with everything `update` writes added (an upper bound) passes the size limit."""
    added = bson.encode(update if isinstance(update, dict) else {"pipeline": update})
    return len(bson.encode(doc or {})) + len(added) > MAX_DOCUMENT_BYTES


def both(condition: dict | None, scope: dict) -> dict:
    """`condition` and `scope` together; the scope is never overridden by a key of the condition."""
    if not condition:
        return dict(scope)
    if set(condition) & set(scope):
        return {"$and": [condition, scope]}
    return {**condition, **scope}


_RULE = ("company", "company_origin")  # what a point read needs to apply the company rule itself


def _read_plan(projection: dict | None) -> tuple[dict | None, tuple[str, ...]]:
    """What a point read fetches for a caller's projection (the rule's fields added) and which of the
    rule's fields it drops again (those the projection left out)."""
    if projection is None:
        return None, ()
    if any(v for k, v in projection.items() if k != "_id") or projection == {"_id": 1}:  # inclusive
        return {**projection, **{f: 1 for f in _RULE}}, tuple(f for f in _RULE if not projection.get(f))
    return ({k: v for k, v in projection.items() if k not in _RULE} or None,
            tuple(f for f in _RULE if projection.get(f) == 0))


@lru_cache(maxsize=64)
def _default_plan(hidden_fields: tuple[str, ...]) -> tuple[dict | None, tuple[str, ...]]:
    """The plan of a read without a projection (its resource's hidden fields left out), made once per
    resource: every get by id takes it. Its fetch is only read, never changed."""
    return _read_plan(_hiding(hidden_fields))


def _hiding(hidden_fields: Iterable[str]) -> dict | None:
    """The projection that leaves a resource's hidden fields out (None when it has none)."""
    return {f: 0 for f in hidden_fields} or None


class ScopedCollection:
    """One resource's collection as one company sees it."""

    resource: Resource  # set by each subclass
    recorder: Recorder | None = None  # the call's, set by its Scope: every write then logs its changes

    def __init__(self, db: Database, company: str, limits: PageLimits | None = None,
                 spec: query.QuerySpec | None = None, collections: Collections | None = None):
        self.db = db
        self.collections = collections or Collections(db)
        self.company = company
        self.limits = limits or PageLimits()
        # the resource's spec completed from its schema (database/query/specs.py) when the app has one
        self.spec = spec or self.resource.spec
        self.cut_pages: list[dict] = []  # listings of this call cut at the reply bound (Scope shares one)

    @property
    def reads(self) -> Collection:
        """The collection for reads: they need neither the change recorder nor the generation bump that
        `collection` wraps around writes (and each wrapper adds a lookup to every attribute a read uses)."""
        return self.collections[self.resource.collection]

    @property
    def collection(self) -> Collection:
        collection = self.collections[self.resource.collection]
        if self.resource.page_cached:
            collection = NotifyingCollection(collection)
        if self.recorder is not None:
            collection = RecordingCollection(collection, self.recorder, self.resource.collection)
        return collection

    # --- the rule ------------------------------------------------------------------------------------

    def readable(self, allow_public: bool = True) -> dict:
        """Own documents, plus public ones when the resource can be shared and the caller allows it."""
        if allow_public and self.resource.shareable and self.company:
            return {"company": {"$in": [self.company, PUBLIC]}}
        return {"company": self.company}

    def writable(self) -> dict:
        """Own documents only: public ones are nobody's to change."""
        return {"company": self.company}

    def owned(self) -> dict:
        """Own documents and the public ones this company shared."""
        return {"$or": [{"company": self.company}, {"company": PUBLIC, "company_origin": self.company}]}

    @staticmethod
    def readers_of(doc: dict) -> dict:
        """Documents of the companies that may read `doc` (every company for a public one). What counts
        references from other companies keeps to these: an id stored by a company that cannot read
        `doc` never counts against it or blocks it."""
        company = doc["company"]
        return {} if company == PUBLIC else {"company": company}

    def default_projection(self) -> dict | None:
        return _hiding(self.resource.hidden_fields)

    # --- reads ---------------------------------------------------------------------------------------

    def get(self, doc_id: str, projection: dict | None = None, *, allow_public: bool = True) -> dict | None:
        """A readable document by id, else None."""
        shared = allow_public and self.resource.shareable and self.company
        allowed = {self.company, PUBLIC} if shared else {self.company}
        return self._by_id(doc_id, projection, lambda doc: doc.get("company") in allowed)

    def get_writable(self, doc_id: str, projection: dict | None = None) -> dict | None:
        """An own document by id, else None."""
        return self._by_id(doc_id, projection, lambda doc: doc.get("company") == self.company)

    def get_owned(self, doc_id: str, projection: dict | None = None) -> dict | None:
        """An own document, or a public one this company shared, by id, else None."""
        return self._by_id(doc_id, projection, lambda doc: doc.get("company") == self.company or (
            doc.get("company") == PUBLIC and doc.get("company_origin") == self.company))

    def _by_id(self, doc_id: str, projection: dict | None, allowed) -> dict | None:
        """One document by `_id` alone, then the rule applied to it here: a filter of `_id` alone is a
        point lookup everywhere, where adding the company clause made the embedded server try its
        compound indexes first (4-8 ms against 0.5 ms, bench/overhead.py). The same documents come back
        as with the rule in the filter."""
        if not isinstance(doc_id, str) or not doc_id:
            return None
        fetch, drop = _read_plan(projection) if projection else _default_plan(self.resource.hidden_fields)
        doc = point_read.find_by_id(self.reads, doc_id, fetch)
        if doc is None or not allowed(doc):
            return None
        if self.recorder is not None:  # a later write of this call takes its before values from here
            self.recorder.remember(self.resource.collection, doc)
        for name in drop:  # what the caller's projection left out stays out
            doc.pop(name, None)
        return doc

    def get_many(self, ids: Iterable[str], projection: dict | None = None, *, allow_public: bool = True) -> list[dict]:
        """The readable documents among `ids`, in no particular order."""
        ids = _ids(ids)
        if not ids:
            return []
        return list(self.reads.find({"_id": {"$in": ids}, **self.readable(allow_public)},
                                         projection or self.default_projection()))

    def readable_ids(self, ids: Iterable[str], *, allow_public: bool = True) -> set[str]:
        return {d["_id"] for d in self.get_many(ids, {"_id": 1}, allow_public=allow_public)}

    def writable_ids(self, ids: Iterable[str]) -> set[str]:
        ids = _ids(ids)
        if not ids:
            return set()
        return {d["_id"] for d in self.reads.find({"_id": {"$in": ids}, **self.writable()}, {"_id": 1})}

    def find(self, condition: dict | None = None, projection: dict | None = None, *, allow_public: bool = True,
             own_only: bool = False, sort: list | None = None, limit: int = 0) -> list[dict]:
        scope = self.writable() if own_only else self.readable(allow_public)
        cursor = self.reads.find(both(condition, scope), projection)
        if sort:
            cursor = cursor.sort(sort)
        if limit:
            cursor = cursor.limit(limit)
        return list(cursor)

    def find_one(self, condition: dict, projection: dict | None = None, *, allow_public: bool = True,
                 own_only: bool = False) -> dict | None:
        scope = self.writable() if own_only else self.readable(allow_public)
        return self.reads.find_one(both(condition, scope), projection)

    def count(self, condition: dict | None = None, *, allow_public: bool = False) -> int:
        return self.reads.count_documents(both(condition, self.readable(allow_public)))

    def count_by(self, field: str, condition: dict | None = None, *, allow_public: bool = False) -> dict:
        """{value of `field`: number of matching documents}."""
        pipeline = [{"$match": both(condition, self.readable(allow_public))},
                    {"$group": {"_id": "$" + field, "n": {"$sum": 1}}}]
        return {d["_id"]: d["n"] for d in self.reads.aggregate(pipeline)}

    def distinct(self, field: str, condition: dict | None = None, *, allow_public: bool = True) -> list:
        return self.reads.distinct(field, both(condition, self.readable(allow_public)))

    def aggregate(self, pipeline: list[dict], *, allow_public: bool = True) -> list[dict]:
        """Runs `pipeline` over the readable documents only (a scoped $match goes first)."""
        return list(self.reads.aggregate([{"$match": self.readable(allow_public)}, *pipeline]))

    def find_page(self, data: dict, *, allow_public: bool = True, extra: dict | None = None
                  ) -> tuple[list[dict], str | None]:
        """One page (API shape) of the readable documents matching a get_all-like request, and the
        scroll id when scrolling. `extra` adds conditions of the endpoint's own (e.g. hidden tags).
        A page cut at the reply bound (query.find_page) is noted in `cut_pages`."""
        base = both(extra, self.readable(allow_public))
        docs, scroll_id = query.find_page(
            self.collection, self.spec, data, base, company=self.company,
            max_page_size=self.limits.max_page_size, scroll_ttl_sec=self.limits.scroll_ttl_sec,
            page_cache=self.limits.page_cache if self.resource.page_cached else None,
            max_reply_bytes=self.limits.max_reply_bytes, time_pager=self.time_pager())
        if docs.cut:
            self.cut_pages.append({"resource": self.resource.name, "returned": len(docs),
                                   "max_reply_bytes": self.limits.max_reply_bytes})
        return docs, scroll_id

    def time_pager(self) -> query.TimePager | None:
        """How pages in time order are read window by window on the embedded server (records); None: as
        one query."""
        return None

    # --- writes (own documents only) -------------------------------------------------------------------

    def insert(self, doc: dict, *, public: bool = False) -> dict:
        """Stores a new document of this company's (or shared by it, when `public`)."""
        if public and self.resource.shareable:
            doc.update(company=PUBLIC, company_origin=self.company)
        else:
            doc["company"] = self.company
        self.collection.insert_one(doc)
        return doc

    def insert_many(self, docs: list[dict]) -> int:
        """Stores new documents of this company's in one round trip, in order; returns how many."""
        for doc in docs:
            doc["company"] = self.company
        if docs:
            self.collection.insert_many(docs)
        return len(docs)

    def update(self, doc_id: str, update: dict | list, **kwargs) -> int:
        """Applies `update` to one own document; returns the matched count."""
        return self.collection.update_one({"_id": doc_id, **self.writable()}, update, **kwargs).matched_count

    def update_many(self, condition: dict, update: dict | list, **kwargs) -> int:
        """Applies `update` to own documents matching `condition`; returns the modified count."""
        return self.collection.update_many(both(condition, self.writable()), update, **kwargs).modified_count

    def find_one_and_update(self, condition: dict, update: dict | list, **kwargs) -> dict | None:
        """pymongo's, on own documents; answering the document before the update (pymongo's default),
        it is exact on every server (database/collections/replaced.py)."""
        match = both(condition, self.writable())
        try:
            if kwargs.get("return_document", ReturnDocument.BEFORE) == ReturnDocument.BEFORE:
                return replaced.find_one_and_update_before(self.collection, match, update, **kwargs)
            return self.collection.find_one_and_update(match, update, **kwargs)
        except OperationFailure as exc:
            # The embedded server answers a findAndModify whose result would pass 16 MiB with a bare
            # InternalError (MongoDB says BSONObjectTooLarge, which database.errors recognises): only
            # on that failure, weigh the document and the update to tell the client what it was.
            if exc.code == _INTERNAL_ERROR and _would_pass_limit(self.collection.find_one(match), update):
                raise DocumentTooLarge("the document would pass the database's size limit") from exc
            raise

    def delete(self, doc_id: str, *, owned: bool = False) -> int:
        """Deletes one own document (with `owned`, also one this company shared publicly)."""
        scope = self.owned() if owned else self.writable()
        return self.collection.delete_one(both({"_id": doc_id}, scope)).deleted_count

    def delete_many(self, condition: dict) -> int:
        return self.collection.delete_many(both(condition, self.writable())).deleted_count
