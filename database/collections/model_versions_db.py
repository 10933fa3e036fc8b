"""Registered models: the models of one company with the same name in the same project, their version
counter, their aliases and the history of alias changes.

Collection `registered_models`, one document per (company, project, name):
`{_id, company, project, name, created, last_version, aliases {alias: model id}, alias_seq,
alias_history [{alias, model, previous, user, time}]}`.

- `last_version` is the counter: a new model takes `last_version + 1` through one atomic
  find_one_and_update ($inc, upsert), so concurrent creates never share or skip a number, and a number
  is never reused (deleting a model does not lower the counter).
- `aliases` is the truth of which version an alias names (one atomic document update moves it). Each
  model carries a copy in its own `aliases` field (shown on the model, filterable in get_all), written
  with the registered model's `alias_seq` so that a late, stale copy never overwrites a newer one.

`ModelVersions` reads the models collection (versions of a registered model, lineage walks) through
the same company rule as `Models` (a registered model's versions are the company's own models and
the ones it made public); `RegisteredModels` is the registry collection (never public).
"""

from __future__ import annotations

import contextlib

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock, ids
from database.collections import models_db, registered_ranges_db
from database.collections.scoped import PUBLIC, Resource, ScopedCollection, both
from database.query import counted, engine, patterns

REGISTERED_MODELS = registered_ranges_db.REGISTERED_MODELS
HISTORY_KEPT = 500  # alias changes remembered per registered model (newest kept)
RESOURCE = Resource("registered_models", REGISTERED_MODELS, shareable=False)


def ensure_indexes(db: Database) -> None:
    db[REGISTERED_MODELS].create_index([("company", ASCENDING), ("project", ASCENDING), ("name", ASCENDING)],
                                       unique=True)
    # the registry page lists registered models by name across projects
    db[REGISTERED_MODELS].create_index([("company", ASCENDING), ("name", ASCENDING), ("_id", ASCENDING)])


def _key(project: str | None, name: str) -> dict:
    return {"project": project or None, "name": name}


NEWEST_FIRST = [("version", DESCENDING), ("created", DESCENDING)]


def _newest_first(doc: dict) -> tuple:
    """NEWEST_FIRST as a sort key of documents read (a missing version or date sorts last, as in MongoDB)."""
    version, created = doc.get("version"), doc.get("created")
    return (version is None, -(version or 0), created is None, -created.timestamp() if created else 0)


class RegisteredModels(ScopedCollection):
    """The company's registered models (counters, aliases, alias history)."""

    resource = RESOURCE

    def next_version(self, project: str | None, name: str) -> int:
        """Reserves the next version number of (project, name), creating the registered model on first use.

        The number is taken by one `$inc` on an existing document (never an upsert returning the new
        document, which the embedded server was seen to answer with None under concurrent first
        creates), so concurrent creates always get distinct, consecutive numbers. The create that
        inserts the registered model holds number 1 by that insert (its `upserted_id`); a create that
        finds it made meanwhile takes the next number by `$inc`."""
        for _ in range(3):
            doc = self.find_one_and_update(_key(project, name), {"$inc": {"last_version": 1}},
                                           return_document=ReturnDocument.AFTER, projection={"last_version": 1})
            if doc is not None:
                return int(doc["last_version"])
            if self._create(project, name, last_version=1):
                return 1
        raise RuntimeError("could not reserve a version number")

    def ensure(self, project: str | None, name: str) -> None:
        """Creates the registered model without taking a number (aliasing a model older than versions)."""
        self._create(project, name, last_version=0)

    def _create(self, project: str | None, name: str, last_version: int) -> bool:
        """Inserts the registered model unless it exists; whether this call inserted it."""
        with contextlib.suppress(DuplicateKeyError):  # created meanwhile
            result = self.collection.update_one(
                {**_key(project, name), **self.writable()},
                {"$setOnInsert": {"_id": ids.new_id(), "created": clock.now(), "aliases": {}, "alias_seq": 0,
                                  "last_version": last_version}}, upsert=True)
            if result.upserted_id is not None:
                registered_ranges_db.added(self.db, self.company, name, result.upserted_id)
                return True
        return False

    def by_key(self, project: str | None, name: str) -> dict | None:
        return self.find_one(_key(project, name), own_only=True)

    def alias_map(self, project: str | None, name: str) -> dict | None:
        """{alias: model id} of the registered model, or None when there is none."""
        doc = self.find_one(_key(project, name), {"aliases": 1}, own_only=True)
        return None if doc is None else (doc.get("aliases") or {})

    def move_alias_if(self, project: str | None, name: str, alias: str, expected: str | None,
                      model_id: str | None, entry: dict) -> dict | None:
        """Points `alias` at `model_id` (None removes it) only while it still names `expected` (None:
        while it is unset), appending `entry` to the history in the same atomic update, so a move and its
        record never part. Returns the registered model after it, or None when the alias named something
        else (or there is no registered model)."""
        condition = {**_key(project, name), f"aliases.{alias}": expected if expected else {"$exists": False}}
        change: dict = {"$inc": {"alias_seq": 1},
                        "$push": {"alias_history": {"$each": [{"id": ids.new_id(), **entry, "time": clock.now()}],
                                                    "$slice": -HISTORY_KEPT}}}
        if model_id:
            change["$set"] = {f"aliases.{alias}": model_id}
        else:
            change["$unset"] = {f"aliases.{alias}": ""}
        return self.find_one_and_update(condition, change, return_document=ReturnDocument.AFTER,
                                        projection={"aliases": 1, "alias_seq": 1})

    def listing(self, search: str | None, project: str | None, in_project: bool, skip: int, limit: int
                ) -> tuple[list[dict], int]:
        """One page of the company's registered models by name (then id), and how many match: names
        containing `search` (any case; matched literally) and, when `in_project`, only those of `project`
        (None: the root). Across projects, the page is found through the counted name ranges
        (registered_ranges_db) without reading the other registered models."""
        projection = {"name": 1, "project": 1, "last_version": 1, "aliases": 1, "created": 1}
        if not in_project:
            if search:
                return registered_ranges_db.search(self.db, self.company, search, skip, limit, projection)
            return registered_ranges_db.page(self.db, self.company, skip, limit, projection)
        condition: dict = {}
        if search:
            condition["name"] = {"$regex": patterns.escape_literal(search, "search"), "$options": "i"}
        if in_project:
            condition["project"] = project or None
        scope = both(condition, self.writable())
        return counted.page_and_total(self.collection, scope, [("name", ASCENDING), ("_id", ASCENDING)], skip,
                                      limit, projection)

    def aliases_of(self, project: str | None, name: str, model_id: str) -> list[str]:
        return sorted(a for a, m in (self.alias_map(project, name) or {}).items() if m == model_id)


class ModelVersions(ScopedCollection):
    """The models collection seen as registered models and lineage (same company rule as `Models`)."""

    resource = models_db.RESOURCE

    def versions(self, project: str | None, name: str, paging: dict, default_size: int) -> tuple[list[dict], int]:
        """One page (`page`, `page_size` of `paging`) of the company's models of (project, name), newest
        version first, and their total.
        Own models and the ones the company made public: another company's public model of the same
        name numbers its versions with that company's counter, so it is not one of these versions."""
        skip, limit = engine.page_window(paging, self.limits.max_page_size, default_size)
        own, shared = self._own(project, name), self._shared(project, name)
        projection = self.default_projection()
        if not shared:
            return counted.page_and_total(self.collection, own, NEWEST_FIRST, skip, limit, projection)
        docs, total = counted.page_and_total(self.collection, own, NEWEST_FIRST, 0, skip + limit, projection)
        return sorted(docs + shared, key=_newest_first)[skip:skip + limit], total + len(shared)

    def latest(self, project: str | None, name: str, ready_only: bool) -> dict | None:
        condition = self._own(project, name)
        if ready_only:
            condition["ready"] = True
        found = list(self.collection.find(condition, self.default_projection()).sort(NEWEST_FIRST).limit(1))
        found += [d for d in self._shared(project, name) if d.get("ready") is True or not ready_only]
        return min(found, key=_newest_first) if found else None

    # The versions are the company's own models of the key and the public ones it shared (`owned()`). Both
    # are asked by equalities led by the key's index, never as one `$or`, which the embedded server answers
    # by reading the whole collection.

    def _own(self, project: str | None, name: str) -> dict:
        return {"company": self.company, **_key(project, name)}

    def _shared(self, project: str | None, name: str) -> list[dict]:
        """The public models of the key that this company shared (few: public models are rare)."""
        projection = {k: v for k, v in (self.default_projection() or {}).items() if k != "company_origin"}
        found = self.collection.find({"company": PUBLIC, **_key(project, name)}, projection or None)
        return [{k: v for k, v in doc.items() if k != "company_origin"} for doc in found
                if doc.get("company_origin") == self.company]

    def sync_aliases(self, model_id: str, aliases: list[str], seq: int) -> None:
        """Writes the model's copy of its aliases unless a newer copy (higher seq) is already there."""
        # alias_seq is an integer or absent: "not >= seq" is "absent or < seq". The own model, else the public
        # one the company shared: flat filters led by `_id` (an `$or` is a collection scan on the embedded server).
        older = {"_id": model_id, "alias_seq": {"$not": {"$gte": seq}}}
        change = {"$set": {"aliases": sorted(aliases), "alias_seq": seq}}
        if not self.collection.update_one({**older, "company": self.company}, change).matched_count:
            self.collection.update_one({**older, "company": PUBLIC, "company_origin": self.company}, change)

    def children(self, model_ids: list[str], projection: dict) -> list[dict]:
        """Readable models whose parent is one of `model_ids`."""
        return self.find({"parent": {"$in": model_ids}}, projection) if model_ids else []

    def made_by_tasks(self, task_ids: list[str], projection: dict) -> list[dict]:
        """Readable models produced by one of the tasks."""
        return self.find({"task": {"$in": task_ids}}, projection) if task_ids else []
