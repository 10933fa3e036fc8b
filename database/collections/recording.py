"""Recording every change of one API call in the change log, at the write layer.

A `Recorder` is made for each call (who, company, endpoint, served version, trx). The call's scope hands
it to every resource's collection, which is then a `RecordingCollection`: each write method runs the
write, and once the database has acknowledged it inserts the entries of what it changed at once, stamped
with that moment (`acked_ns`, the sequencer's order), journaled (database/collections/change_log_db.py):
an entry on disk means its change is too, and a call whose last write is an entry needs no journal flush
of its own. An acknowledged call thus always has its entries, and a write the database refused has none.

Why each write's entries at once, and journaled, rather than all of a call's in one insert at its end
(fewer disk flushes, tried and measured): the entry must reach the same database process as its change.
A server restarted after a crash may have lost an acknowledged, not yet journaled change; an entry (or a
journal flush) sent later in the call can land there and outlive it, or acknowledge a call whose change
is gone. Sent right after the write, unretried, and not at all once the server process differs from
the one the write went to (database/connection.py, `entries_may_follow`), the window for that is the time between
two commands of one thread; the fault tests (tests/changes/test_change_log_faults.py) kill the database
mid-write to hold it. A new endpoint inherits all this by writing through `call.scope` or `call.directory`.

Before and after values come from what the write already has: the update's `$set` values, the document
the call read earlier (`remember`, fed by the scoped point reads), the old document of a
`find_one_and_*`. Multi-document updates and deletes read the ids (and the changed fields) of what they
will touch first, then restrict the write to those ids, so each changed document gets its entry.

Object-store writes (database/storage/blobstore.py) report through the recorder bound to the running
call (`bound`), since the store is shared by every call.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError

from database import clock, ids
from database.collections import change_log_db
from database.collections.entry_values import before_of, bounded, name_of, redact, update_values

# resource collection -> target type in entries
TARGET_TYPES = {"models": "model", "tasks": "task", "projects": "project", "events": "event", "users": "user",
                "credentials": "credential", "preferences": "preferences", "user_preferences": "preferences",
                "registered_models": "registered_model", "datasets": "dataset", "records": "record", "files": "file",
                "alias_rules": "alias_rule", "promotions": "promotion", "uploads": "upload",
                "content_files": "content", "file_paths": "file_path", "webhooks": "webhook",
                "webhook_deliveries": "webhook_delivery"}


@dataclass
class Recorder:
    """Who makes the changes of one call, and where their entries go."""

    db: Any  # the pymongo Database holding the change log
    company: str
    user: str
    endpoint: str
    version: str
    trx: str
    kind_of: Callable[[str, str, str], str]  # (endpoint, target type, created|updated|deleted) -> kind
    max_change_bytes: int = 8192
    summarise_over: int = 50  # a single insert of more documents than this is one summary entry
    seen: dict = field(default_factory=dict)  # (collection, id) -> the document this call read
    last_ns: int = 0  # the latest stamp given: a call's entries are ordered as its writes were
    lock: threading.Lock = field(default_factory=threading.Lock)  # a call may write from a helper thread

    def remember(self, collection: str, doc: dict | None) -> None:
        if doc is not None and "_id" in doc and len(self.seen) < 1000:
            key = (collection, doc["_id"])
            self.seen[key] = {**self.seen.get(key, {}), **doc}

    def read(self, collection: str, doc_id) -> dict | None:
        return self.seen.get((collection, doc_id))

    def in_company(self, company: str) -> Recorder:
        """The same call's recorder logging into `company`'s change log (what it read is shared)."""
        return dataclasses.replace(self, company=company)

    def entry(self, collection: str, op: str, doc_id, name: str, before: dict | None, after: dict | None,
              company: str | None = None) -> dict:
        target_type = TARGET_TYPES.get(collection, collection)
        return {
            "_id": ids.new_id(), "company": self.company if company is None else company,
            "user": self.user, "endpoint": self.endpoint, "version": self.version, "trx": self.trx,
            "target": {"type": target_type, "id": doc_id, "name": name or ""}, "op": op,
            "kind": self.kind_of(self.endpoint, target_type, op),
            "changes": {"before": bounded(redact(before), self.max_change_bytes),
                        "after": bounded(redact(after), self.max_change_bytes)},
        }

    def write(self, entries: list[dict]) -> None:
        """Stamps the entries of one acknowledged write with that moment and inserts them."""
        if not entries:
            return
        with self.lock:
            now, tick = clock.now(), max(time.time_ns(), self.last_ns + 1)
            for n, entry in enumerate(entries):
                entry["time"] = now
                entry["acked_ns"] = tick + n  # the sequencer's order: acknowledgement, then position in the write
                if entry["company"] == "":  # a public document: logged in the sharing company
                    entry["company"] = self.company
            self.last_ns = tick + len(entries) - 1
        change_log_db.insert_entries(self.db, entries)  # a failed insert fails the call

    def blob_changed(self, op: str, key: str, size: int | None = None, sha256: str | None = None) -> None:
        after = None if op == "deleted" else {"uri": key, "size": size, "sha256": sha256}
        before = {"uri": key} if op == "deleted" else None
        self.write([self.entry("files", op, key, key.rsplit("/", 1)[-1], before, after)])


_BOUND: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("change_recorder", default=None)


class bound:  # noqa: N801 - used as a function
    """Makes `recorder` the running call's for writes that reach shared objects (the object store); a
    context manager, entered by every call (a class: a generator-based one costs a few times more)."""

    __slots__ = ("recorder", "token")

    def __init__(self, recorder: Recorder | None):
        self.recorder = recorder

    def __enter__(self) -> None:
        self.token = _BOUND.set(self.recorder)

    def __exit__(self, *exc_info) -> None:
        _BOUND.reset(self.token)


def current() -> Recorder | None:
    return _BOUND.get()


@dataclass
class _Deleted:
    deleted_count: int
    acknowledged: bool = True


@dataclass
class _Updated:
    matched_count: int = 0
    modified_count: int = 0
    upserted_id: Any = None
    acknowledged: bool = True


class RecordingCollection:
    """A pymongo Collection (or a wrapper of one) whose writes record their changes with `recorder`."""

    def __init__(self, collection, recorder: Recorder, name: str | None = None):
        self._collection = collection
        self._recorder = recorder
        self._name = name or collection.name

    def __getattr__(self, name: str):
        return getattr(self._collection, name)

    def _record(self, op: str, items: list[tuple]) -> None:
        rec = self._recorder
        rec.write([rec.entry(self._name, op, *item) for item in items])
        if op == "updated":  # a later write of this call takes its before values from what this one wrote
            for doc_id, _, _, after in items:
                written = {k: v for k, v in (after or {}).items() if ":" not in k and "." not in k}
                if written and rec.read(self._name, doc_id) is not None:
                    rec.remember(self._name, {"_id": doc_id, **written})

    def _ids_of(self, filter_: dict) -> list | None:
        """The ids a filter names by `_id` alone (a value or `$in`), else None."""
        value = filter_.get("_id") if isinstance(filter_, dict) else None
        if isinstance(value, str):
            return [value]
        if isinstance(value, dict) and set(value) == {"$in"}:
            return list(value["$in"])
        return None

    def _touched(self, filter_: dict, fields: list[str]) -> list[dict]:
        projection = {"_id": 1, "name": 1, **{f.split(":", 1)[-1]: 1 for f in fields}}
        projection = {k: v for k, v in projection.items() if not any(
            k != o and (k.startswith(o + ".") or o.startswith(k + ".")) for o in projection)}
        return list(self._collection.find(filter_, projection))

    # --- inserts ------------------------------------------------------------------------------------

    def insert_one(self, doc: dict, *args, **kwargs):
        result = self._collection.insert_one(doc, *args, **kwargs)
        self._record("created", [(doc.get("_id"), name_of(doc), None, doc)])
        return result

    def insert_many(self, docs, *args, **kwargs):
        docs = list(docs)
        try:
            result = self._collection.insert_many(docs, *args, **kwargs)
        except BulkWriteError as exc:  # some went in: those have their entries before the error goes on
            failed = {e.get("index") for e in exc.details.get("writeErrors", [])}
            if kwargs.get("ordered", True):
                inserted = docs[:min(failed)] if failed else []
            else:
                inserted = [d for n, d in enumerate(docs) if n not in failed]
            self._record_inserts(inserted)
            raise
        self._record_inserts(docs)
        return result

    def _record_inserts(self, docs: list[dict]) -> None:
        if not docs:
            return
        if len(docs) > self._recorder.summarise_over:
            ids_ = [d.get("_id") for d in docs]
            self._record("created", [(None, f"{len(docs)} documents", None,
                                      {"count": len(docs), "ids": ids_[:self._recorder.summarise_over]})])
        else:
            self._record("created", [(d.get("_id"), name_of(d), None, d) for d in docs])

    # --- updates ------------------------------------------------------------------------------------

    def update_one(self, filter_: dict, update, *args, **kwargs):
        after = update_values(update)
        known = self._ids_of(filter_)
        if not after:  # only `$setOnInsert`: an insert is logged from it, a match changes nothing
            before_doc = None
        elif known is None:  # an update by key (registered models): find what it names first
            found = self._touched(filter_, list(after))
            before_doc = found[0] if found else None
        else:
            before_doc = self._recorder.read(self._name, known[0]) if known else None
        result = self._collection.update_one(filter_, update, *args, **kwargs)
        if result.upserted_id is not None:
            on_insert = (update.get("$setOnInsert") or {}) if isinstance(update, dict) else {}
            inserted = {**on_insert, **after}
            self._record("created", [(result.upserted_id, name_of(inserted, filter_), None, inserted)])
        elif result.matched_count and after:  # only `$setOnInsert` on a match changes nothing
            doc_id = known[0] if known else (before_doc or {}).get("_id")
            self._record("updated", [(doc_id, name_of(after, before_doc), before_of(before_doc, after), after)])
        return result

    def update_many(self, filter_: dict, update, *args, **kwargs):
        after = update_values(update)
        touched = self._touched(filter_, list(after))
        if not touched:
            return _Updated()
        limited = {"$and": [filter_, {"_id": {"$in": [d["_id"] for d in touched]}}]}
        result = self._collection.update_many(limited, update, *args, **kwargs)
        if result.matched_count and after:
            self._record("updated", [(d["_id"], name_of(after, d), before_of(d, after), after) for d in touched])
        return result

    def find_one_and_update(self, filter_: dict, update, *args, **kwargs):
        after = update_values(update)
        wanted = kwargs.get("return_document", ReturnDocument.BEFORE)
        projection = kwargs.get("projection")
        inclusive = projection is not None and all(projection.values())
        if inclusive:
            # the name, and the old values of what changes, ride along with the reply the caller asked for
            extra = {"name": 1}
            if wanted == ReturnDocument.BEFORE:
                extra.update({k.split(":", 1)[-1].split(".")[0]: 1 for k in after})
            kwargs["projection"] = {**projection, **extra}
        result = self._collection.find_one_and_update(filter_, update, *args, **kwargs)
        known = self._ids_of(filter_)
        if result is None:
            if kwargs.get("upsert"):  # nothing before: the upsert inserted it
                on_insert = (update.get("$setOnInsert") or {}) if isinstance(update, dict) else {}
                inserted = {**on_insert, **after}
                doc_id = on_insert.get("_id") or (known[0] if known else None)
                if doc_id is None:  # an upsert by key whose id the database chose
                    doc_id = (self._collection.find_one(filter_, {"_id": 1}) or {}).get("_id")
                self._record("created", [(doc_id, name_of(inserted, filter_), None, inserted)])
            return None
        doc_id = result.get("_id") or (known[0] if known else None)
        # (with only `$setOnInsert` on a document that was there, nothing changed: no entry)
        if after and wanted == ReturnDocument.BEFORE:
            before = before_of(result, after)
            self._record("updated", [(doc_id, name_of(after, result, filter_), before, after)])
        elif after:
            seen = self._recorder.read(self._name, doc_id)
            self._record("updated", [(doc_id, name_of(after, result, seen, filter_), before_of(seen, after), after)])
        if inclusive:
            result = {k: v for k, v in result.items() if k in projection or k == "_id"}
        return result

    # --- deletes ------------------------------------------------------------------------------------

    def delete_one(self, filter_: dict, *args, **kwargs):
        doc = self._collection.find_one_and_delete(filter_, projection={"_id": 1, "name": 1})
        if doc is None:
            return _Deleted(0)
        seen = self._recorder.read(self._name, doc["_id"])
        self._record("deleted", [(doc["_id"], name_of(doc, seen), {"name": name_of(doc, seen)}, None)])
        return _Deleted(1)

    def delete_many(self, filter_: dict, *args, **kwargs):
        touched = self._touched(filter_, [])
        if not touched:
            return _Deleted(0)
        result = self._collection.delete_many({"$and": [filter_, {"_id": {"$in": [d["_id"] for d in touched]}}]},
                                              *args, **kwargs)
        if result.deleted_count:
            self._record("deleted", [(d["_id"], name_of(d), {"name": name_of(d)}, None) for d in touched])
        return result

    def find_one_and_delete(self, filter_: dict, *args, **kwargs):
        doc = self._collection.find_one_and_delete(filter_, *args, **kwargs)
        if doc is not None:
            self._record("deleted", [(doc.get("_id"), name_of(doc), {"name": name_of(doc)}, None)])
        return doc

    def replace_one(self, *args, **kwargs):
        raise NotImplementedError("replace_one is not recorded: write with an update")

    bulk_write = find_one_and_replace = replace_one


class RecordingDatabase:
    """A Database whose named collections record their writes (the user directory's users and key pairs)."""

    def __init__(self, db, recorder: Recorder | None, recorded: frozenset[str]):
        self._db, self._recorder, self._recorded = db, recorder, recorded

    def __getattr__(self, name: str):
        return getattr(self._db, name)

    def __getitem__(self, name: str):
        collection = self._db[name]
        if self._recorder is None or name not in self._recorded:
            return collection
        return RecordingCollection(collection, self._recorder)
