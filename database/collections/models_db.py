"""Models: registered weights with their metadata.

Collection `models`, one document per model (ClearML's model document, see the protocol notes §9):
`{_id, company ("" = public), company_origin?, user, name, comment, project, task, parent, framework,
uri, design, labels, ready, tags, system_tags, metadata {escaped key: {key, type, value}}, ui_cache,
created, last_update, last_change, last_changed_by, last_iteration, last_metrics}`.

Scoping (own + public reads, own writes) is database/collections/scoped.py's; `Models` adds the model operations.
`tags` and `system_tags` are kept sorted and unique on every write.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

from database import clock, ids, indexes
from database.collections.scoped import PUBLIC, Resource, ScopedCollection
from database.errors import QueryError
from database.query import engine, metadata_keys

MODELS = "models"
MIN_NAME = 3
ARCHIVED = "archived"
REFERENCE_FIELDS = ("company", "user", "project", "task", "parent")
TAG_FIELDS = ("tags", "system_tags")
FILE_FIELDS = {"_id": 1, "uri": 1, "file": 1, "company": 1, "company_origin": 1}

# What the schema cannot say; the list, date and range filters come from models.get_all's request
# schema (database/query/specs.py). `created` takes [min, max] with open ends, as in ClearML.
SPEC = engine.QuerySpec(
    pattern_fields=frozenset({"name", "comment"}),
    equality_fields=frozenset({"ready"}),
    range_fields=frozenset({"created"}),
    never_empty=frozenset({"_id", "name"}),  # names have at least 3 characters (normalize_name)
    text_fields=("name", "id", "comment", "parent", "task", "project"),
    hidden_fields=frozenset({"company_origin", "ui_cache", "unique_metrics", "alias_seq"}),
    known_fields=frozenset({"id", "company", "user", "name", "parent", "project", "task", "created", "comment",
                            "framework", "tags", "system_tags", "uri", "design", "labels", "ready", "last_update",
                            "last_change", "last_changed_by", "ui_cache", "company_origin", "metadata",
                            "last_iteration", "last_metrics", "unique_metrics", "stats", "file",
                            # modelreg extensions (2.99+): versions, aliases and the model card
                            "version", "aliases", "release_notes", "license_url", "paper_url", "source_url",
                            "signature"}),
    # the embedded server's clause order (database/query/shape.py): references and names narrow most
    narrow_first=("project", "parent", "task", "uri", "name", "user", "tags", "framework"),
    wide_last=("system_tags",),
)
RESOURCE = Resource("models", MODELS, SPEC, hidden_fields=tuple(sorted(SPEC.hidden_fields)), page_cached=True)


class ModelDataError(QueryError):
    """A document rule is broken (name too short, duplicate label ids, ready null): 400/800."""


def ensure_indexes(db: Database) -> None:
    coll = db[MODELS]
    # Single-field indexes on project/parent/task/tags: the embedded server serves a filter it cannot match
    # to one compound index (any `$nin`, as in `-archived`) through the index led by its first clause
    # (SPEC.narrow_first puts the most selective first, database/query/shape.py).
    # Each index with the query it serves. Every index costs every write (database/indexes.py): one that no
    # query needs does not belong here, and one only MongoDB's planner reads is `mongodb_only`: the
    # embedded server answers those queries from the index of their first clause (`$or` of the company
    # rule, `-archived`, name patterns) or, for bare equalities on exactly these fields, which no call sends
    # on its own, with a scan.
    for keys, mongodb_only in (
        (["parent"], False),  # lineage: models derived from a model (`parent $in`); get_all `parent` (embedded)
        (["project"], False),  # get_all by project on the embedded server (its first clause); project stats and moves
        (["task"], False),  # a task's output and input models; reference clean-up after a task or model is deleted
        (["tags"], False),  # get_all by tags on the embedded server, whose candidates come from the first clause
        (["last_update"], False),  # the web app's default order (-last_update) over own + public models (`company $in`)
        (["company", "last_update"], True),  # the same order over own models only
        (["company", "name"], True),  # name patterns, `order_by: name`, names in use
        (["company", "uri"], True),  # the /files protocol's model of a stored file; get_all `uri`
        (["company", "tags"], True), (["company", "system_tags"], True),  # tag filters (the archived view: system_tags)
        (["company", "project", "tags"], False),  # tags within a project (bare equalities on the embedded server too)
        (["company", "project", "system_tags"], True),  # system tags within a project
        (["company", "user"], True),  # the web app's "my models"
        (["company", "project", "user"], True),  # the same within a project
        (["company", "framework"], True),  # get_frameworks and the framework filter
        (["company", "project", "framework"], False),  # the same within a project (get_frameworks of a project)
        (["company", "created"], False),  # the `created` range filter and order
        (["company_origin"], True),  # the public models a company shared (`owned()`: make_private, delete)
        (["company", "project", "name", "version"], False),  # the versions of a registered model
    ):
        indexes.ensure_index(coll, [(k, ASCENDING) for k in keys], mongodb_only=mongodb_only)


# --- document rules ------------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """The trimmed name; fewer than 3 characters raises 400/800."""
    name = (name or "").strip()
    if len(name) < MIN_NAME:
        raise ModelDataError(f"name must have at least {MIN_NAME} characters", name=name)
    return name


def check_labels(labels: dict) -> None:
    """Label ids must be unique among the non-null ones (400/800)."""
    values = [v for v in labels.values() if v is not None]
    if len(values) != len(set(values)):
        raise ModelDataError("label ids must be unique", labels=sorted(labels))


def normalize_fields(fields: dict) -> dict:
    """Applies the document rules to fields about to be written, returning the stored form."""
    out = dict(fields)
    if "name" in out:
        out["name"] = normalize_name(out["name"])
    if "uri" in out and isinstance(out["uri"], str):
        out["uri"] = out["uri"].strip()
    if "labels" in out:
        check_labels(out["labels"] or {})
    if "ready" in out and out["ready"] is None:
        raise ModelDataError("ready must be true or false")
    for tag_field in TAG_FIELDS:
        if tag_field in out:
            out[tag_field] = sorted(set(out[tag_field] or []))
    return out


def new_model_doc(user: str, fields: dict, when: datetime | None = None) -> dict:
    """A complete model document (without its company, which Models.insert sets): defaults first,
    then the (already checked) fields."""
    when = when or clock.now()
    doc = {
        "_id": ids.new_id(),
        "user": user,
        "created": when,
        "last_update": when,
        "last_change": when,
        "last_changed_by": user,
        "uri": "",
        "ready": True,
        "tags": [],
        "system_tags": [],
        "labels": {},
        "design": {},
        "ui_cache": {},
        "metadata": {},
        "last_iteration": 0,
    }
    doc.update(normalize_fields(fields))
    for key in ("tags", "system_tags"):
        doc[key] = doc[key] or []
    for key in ("labels", "design", "ui_cache", "metadata"):
        doc[key] = doc[key] or {}
    return doc


def metadata_map(items: Iterable[dict]) -> dict:
    """API metadata items `[{key, type, value}]` -> the stored map keyed by escaped key (400/12 for an empty key)."""
    out = {}
    for item in items:
        escaped = metadata_keys.escape_key(item.get("key"))
        out[escaped] = {"key": item["key"].strip(), "type": item.get("type"), "value": item.get("value")}
    return out


def unescape_metadata(metadata: dict | None) -> dict:
    return metadata_keys.unescape_metadata(metadata or {})


def to_api(doc: dict) -> dict:
    """A stored model as the API shows it: `id` instead of `_id`, metadata keys unescaped."""
    return engine.to_api(doc)


def _stamp(user: str, when: datetime, content: bool) -> dict:
    stamp = {"last_change": when, "last_changed_by": user}
    if content:
        stamp["last_update"] = when
    return stamp


def _literal(value):
    return {"$literal": value}


def _sorted_set(expression) -> dict:
    return {"$sortArray": {"input": expression, "sortBy": 1}}


class Models(ScopedCollection):
    """The models one company sees (own and public) and changes (own)."""

    resource = RESOURCE

    def shared_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are public models that this company shared."""
        ids = list(set(ids))
        return {d["_id"] for d in self.collection.find(
            {"_id": {"$in": ids}, "company": PUBLIC, "company_origin": self.company}, {"_id": 1})}

    # --- writes (own models only) ------------------------------------------------------------------

    def update_fields(self, model_id: str, set_fields: dict, user: str, content_changed: bool,
                      unset_fields: Iterable[str] = (), when: datetime | None = None) -> dict:
        """Sets fields on an own model with last_change/last_changed_by (and last_update when the content
        changed). Returns the written fields, stamps included, or {} when the model is not the company's."""
        when = when or clock.now()
        written = {**normalize_fields(set_fields), **_stamp(user, when, content_changed)}
        update: dict = {"$set": written}
        unset = {f: "" for f in unset_fields}
        if unset:
            update["$unset"] = unset
        return written if self.update(model_id, update) else {}

    def add_tags(self, ids: Iterable[str], field: str, values: Iterable[str], user: str,
                 content_changed: bool = False) -> int:
        """Adds `values` to `field` (tags or system_tags) of own models, keeping the list sorted.
        Returns how many models matched (ClearML counts matched, not modified, documents)."""
        return self._change_tags(ids, field, values, user, "$setUnion", content_changed)

    def remove_tags(self, ids: Iterable[str], field: str, values: Iterable[str], user: str,
                    content_changed: bool = False) -> int:
        """Removes `values` from `field` of own models. Returns how many models matched."""
        return self._change_tags(ids, field, values, user, "$setDifference", content_changed)

    def _change_tags(self, ids, field, values, user, operator, content_changed) -> int:
        if field not in TAG_FIELDS:
            raise ValueError(field)
        values = sorted(set(values))
        ids = list(set(ids))
        if not values or not ids:
            return 0
        # A pipeline update, so the list stays sorted in one round trip; $literal keeps "$x" tags plain.
        new_value = _sorted_set({operator: [{"$ifNull": ["$" + field, []]}, _literal(values)]})
        stamp = {k: _literal(v) for k, v in _stamp(user, clock.now(), content_changed).items()}
        result = self.collection.update_many({"_id": {"$in": ids}, **self.writable()},
                                             [{"$set": {field: new_value, **stamp}}])
        return result.matched_count

    def set_metadata(self, model_id: str, entries: dict, replace: bool, user: str) -> int:
        """Writes metadata entries (a metadata_map) to an own model; `replace` drops the others."""
        stamp = _stamp(user, clock.now(), True)
        if replace:
            update = {"$set": {"metadata": entries, **stamp}}
        else:
            update = {"$set": {**{f"metadata.{k}": v for k, v in entries.items()}, **stamp}}
        return self.update(model_id, update)

    def delete_metadata(self, model_id: str, keys: Iterable[str], user: str) -> int:
        update = {"$set": _stamp(user, clock.now(), True)}
        unset = {f"metadata.{metadata_keys.escape_key(key)}": "" for key in keys}
        if unset:
            update["$unset"] = unset
        return self.update(model_id, update)

    def set_ready(self, model_id: str, user: str) -> int:
        """Publishes an own model that is not ready yet; returns 1 when it changed."""
        result = self.collection.update_one(
            {"_id": model_id, "ready": {"$ne": True}, **self.writable()},
            {"$set": {"ready": True, **_stamp(user, clock.now(), True)}},
        )
        return result.modified_count

    def make_public(self, ids: Iterable[str]) -> int:
        """Own models become public (company ""), remembering their company in company_origin."""
        return self.update_many({"_id": {"$in": list(set(ids))}},
                                {"$set": {"company": PUBLIC, "company_origin": self.company}})

    def make_private(self, ids: Iterable[str]) -> int:
        """Public models that this company shared return to it."""
        return self.collection.update_many(
            {"_id": {"$in": list(set(ids))}, "company": PUBLIC, "company_origin": self.company},
            {"$set": {"company": self.company}, "$unset": {"company_origin": ""}},
        ).modified_count

    def move(self, ids: Iterable[str], project_id: str | None, user: str) -> int:
        """Moves own models into a project (None: the root). Unknown or foreign ids are skipped."""
        return self.update_many({"_id": {"$in": list(set(ids))}},
                                {"$set": {"project": project_id, **_stamp(user, clock.now(), False)}})

    def update_metrics(self, model_id: str, set_fields: dict, iteration: int | None) -> None:
        """Sets `last_metrics.<metric>.<variant>` entries of an own model and raises its last_iteration
        (events.add_batch with model events)."""
        update: dict = {"$set": set_fields} if set_fields else {}
        if iteration is not None:
            update["$max"] = {"last_iteration": int(iteration)}
        if update:
            self.update(model_id, update)

    # --- the stored file: atomic with reading the previous value (the caller deletes the old blob) ---

    def set_file(self, model_id: str, file: dict, uri: str, user: str) -> dict | None:
        """Points an own model at a stored file `{size, sha256, content_type, filename, stored, key}`.
        Returns the model's previous `{_id, uri, file, company}`, or None when it is not the company's."""
        return self.find_one_and_update(
            {"_id": model_id}, {"$set": {"file": file, "uri": uri, **_stamp(user, clock.now(), True)}},
            projection=FILE_FIELDS, return_document=ReturnDocument.BEFORE,
        )

    def clear_file(self, model_id: str, user: str) -> dict | None:
        """Removes the file record and the uri of an own model; returns the previous `{_id, uri, file}`."""
        return self.find_one_and_update(
            {"_id": model_id}, {"$set": {"uri": "", **_stamp(user, clock.now(), True)}, "$unset": {"file": ""}},
            projection=FILE_FIELDS, return_document=ReturnDocument.BEFORE,
        )

    def uri_used_by_others(self, uri: str, model_id: str) -> bool:
        """Whether another model of the company (or one it made public) points at `uri`."""
        if not uri:
            return False
        return self.collection.find_one({"uri": uri, "_id": {"$ne": model_id}, **self.owned()}, {"_id": 1}) is not None

    # --- models of tasks and projects ----------------------------------------------------------------

    def created_by_task(self, task_id: str) -> list[dict]:
        """The company's models whose `task` is this one (tasks.reset/delete decide their fate)."""
        return self.find({"task": task_id}, own_only=True)

    def detach_from_task(self, task_id: str, marker: str) -> int:
        """The company's models created by a deleted task point at `marker` (`__DELETED__<task id>`)."""
        return self.update_many({"task": task_id}, {"$set": {"task": marker}})

    def in_projects(self, project_ids: Iterable[str]) -> list[dict]:
        """The company's models in the projects (whole documents: deleting one needs its file fields)."""
        return self.find({"project": {"$in": list(project_ids)}}, own_only=True)

    def clear_project(self, project_ids: Iterable[str]) -> int:
        """The company's models in the projects lose their project (projects.delete without contents)."""
        return self.update_many({"project": {"$in": list(project_ids)}}, {"$set": {"project": None}})

    def metadata_keys_in(self, project_ids: Iterable[str] | None) -> set[str]:
        """Stored (escaped) metadata keys of the readable models in the projects (all when None)."""
        condition: dict = {"metadata": {"$exists": True, "$ne": {}}}
        if project_ids is not None:
            condition["project"] = {"$in": list(project_ids)}
        keys: set[str] = set()
        for doc in self.find(condition, {"metadata": 1}):
            if isinstance(doc.get("metadata"), dict):
                keys.update(doc["metadata"])
        return keys

    def metadata_values_in(self, project_ids: Iterable[str] | None, escaped_key: str,
                           allow_public: bool = True) -> list:
        """Distinct values of one metadata entry among the models in the projects, sorted."""
        condition = {"project": {"$in": list(project_ids)}} if project_ids is not None else {}
        values = self.distinct(f"metadata.{escaped_key}.value", condition, allow_public=allow_public)
        return sorted(values, key=lambda v: (v is not None, str(v)))

    # --- aggregate reads -----------------------------------------------------------------------------

    def frameworks(self, project_ids: list[str] | None = None) -> list[str]:
        """Distinct non-empty framework names of the readable models (within `project_ids` if given), sorted."""
        match: dict = {"framework": {"$nin": [None, ""]}}
        if project_ids:
            match["project"] = {"$in": list(project_ids)}
        pipeline = [{"$match": match}, {"$group": {"_id": "$framework"}}, {"$sort": {"_id": 1}}]
        return [d["_id"] for d in self.aggregate(pipeline)]

    def labels_counts(self, ids: list[str]) -> dict[str, int]:
        """{model id: number of labels} of readable models, counted by the database."""
        pipeline = [
            {"$match": {"_id": {"$in": ids}}},
            {"$project": {"n": {"$size": {"$objectToArray": {"$ifNull": ["$labels", {}]}}}}},
        ]
        return {d["_id"]: d["n"] for d in self.aggregate(pipeline)}
