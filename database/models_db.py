"""Models: registered weights with their metadata.

Collection `models`, one document per model (ClearML's model document, see the protocol notes §9):
`{_id, company ("" = public), company_origin?, user, name, comment, project, task, parent, framework,
uri, design, labels, ready, tags, system_tags, metadata {escaped key: {key, type, value}}, ui_cache,
created, last_update, last_change, last_changed_by, last_iteration, last_metrics}`.

Reads see the company's own models and public ones (`company == ""`); writes touch own models only.
`tags` and `system_tags` are kept sorted and unique on every write.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timezone

from pymongo import ASCENDING
from pymongo.database import Database

from database import metadata_keys, query
from database.errors import QueryError

MODELS = "models"
MIN_NAME = 3
ARCHIVED = "archived"
# Stored but only returned when a projection names them.
HIDDEN_FIELDS = ("ui_cache", "company_origin", "unique_metrics")
REFERENCE_FIELDS = ("company", "user", "project", "task", "parent")
TAG_FIELDS = ("tags", "system_tags")


# The query engine's description of this collection (list, pattern, range fields; hidden fields).
QUERY_SPEC = query.MODEL_SPEC


class ModelDataError(QueryError):
    """A document rule is broken (name too short, duplicate label ids, ready null): 400/800."""

    api_error = "DataValidationError"


def ensure_indexes(db: Database) -> None:
    coll = db[MODELS]
    # Single-field indexes on project/parent/task/tags: the embedded server serves a filter it cannot match
    # to one compound index (any `$nin`, as in `-archived`) through the index led by its first clause
    # (database/query_shape.py puts the most selective first).
    for keys in (
        ["parent"], ["project"], ["task"], ["tags"], ["last_update"],
        ["company", "last_update"], ["company", "name"], ["company", "uri"],
        ["company", "tags"], ["company", "system_tags"],
        ["company", "project", "tags"], ["company", "project", "system_tags"],
        ["company", "user"], ["company", "project", "user"],
        ["company", "framework"], ["company", "project", "framework"],
        ["company", "created"],
    ):
        coll.create_index([(k, ASCENDING) for k in keys])


def now() -> datetime:
    return datetime.now(timezone.utc)


def readable(company: str, allow_public: bool = True) -> dict:
    """The filter of models a company may read: own, plus public ones when allowed."""
    return {"company": {"$in": [company, ""]}} if allow_public and company else {"company": company}


def writable(company: str) -> dict:
    return {"company": company}


def default_projection() -> dict:
    return {f: 0 for f in HIDDEN_FIELDS}


def get(db: Database, company: str, model_id: str, projection: dict | None = None,
        allow_public: bool = True) -> dict | None:
    """A model the company may read (own or public), else None."""
    if not model_id:
        return None
    # A filter of `_id` alone is the embedded server's point lookup (~0.5 ms); with the company clause in the
    # filter it first tries its compound-index pickers (~5-8 ms, bench/overhead.py). Same rule, checked here.
    allowed = (company, "") if allow_public and company else (company,)
    projection = projection or default_projection()
    inclusive = any(v for k, v in projection.items() if k != "_id") or projection == {"_id": 1}
    fetch = {**projection, "company": 1} if inclusive else {k: v for k, v in projection.items() if k != "company"}
    doc = db[MODELS].find_one({"_id": model_id}, fetch)
    if doc is None or doc.get("company") not in allowed:
        return None
    if projection.get("company", not inclusive) in (0, False):
        doc.pop("company", None)
    return doc


def get_writable(db: Database, company: str, model_id: str, projection: dict | None = None) -> dict | None:
    """A model of the company's own (public models are not writable), else None."""
    if not model_id:
        return None
    return db[MODELS].find_one({"_id": model_id, **writable(company)}, projection or default_projection())


def owned_ids(db: Database, company: str, ids: Iterable[str]) -> set[str]:
    """Which of `ids` are models of the company's own."""
    ids = list(set(ids))
    return {d["_id"] for d in db[MODELS].find({"_id": {"$in": ids}, **writable(company)}, {"_id": 1})}


def public_ids_from(db: Database, company: str, ids: Iterable[str]) -> set[str]:
    """Which of `ids` are public models that `company` made public."""
    ids = list(set(ids))
    query = {"_id": {"$in": ids}, "company": "", "company_origin": company}
    return {d["_id"] for d in db[MODELS].find(query, {"_id": 1})}


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


def new_model_doc(company: str, user: str, fields: dict, when: datetime | None = None) -> dict:
    """A complete model document: defaults first, then the (already checked) fields."""
    when = when or now()
    doc = {
        "_id": uuid.uuid4().hex,
        "company": company,
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


def insert(db: Database, doc: dict) -> dict:
    db[MODELS].insert_one(doc)
    return doc


# --- writes (own models only) --------------------------------------------------------------------


def _stamp(user: str, when: datetime, content: bool) -> dict:
    stamp = {"last_change": when, "last_changed_by": user}
    if content:
        stamp["last_update"] = when
    return stamp


def update_fields(db: Database, company: str, model_id: str, set_fields: dict, user: str,
                  content_changed: bool, unset_fields: Iterable[str] = (), when: datetime | None = None) -> dict:
    """Sets fields on an own model with last_change/last_changed_by (and last_update when the content
    changed). Returns the written fields, stamps included, or {} when the model is not the company's."""
    when = when or now()
    written = {**normalize_fields(set_fields), **_stamp(user, when, content_changed)}
    update: dict = {"$set": written}
    unset = {f: "" for f in unset_fields}
    if unset:
        update["$unset"] = unset
    result = db[MODELS].update_one({"_id": model_id, **writable(company)}, update)
    return written if result.matched_count else {}


def _literal(value):
    return {"$literal": value}


def _sorted_set(expression) -> dict:
    return {"$sortArray": {"input": expression, "sortBy": 1}}


def add_tags(db: Database, company: str, ids: Iterable[str], field: str, values: Iterable[str], user: str,
             content_changed: bool = False) -> int:
    """Adds `values` to `field` (tags or system_tags) of own models, keeping the list sorted.
    Returns how many models matched (ClearML counts matched, not modified, documents)."""
    return _change_tags(db, company, ids, field, values, user, "$setUnion", content_changed)


def remove_tags(db: Database, company: str, ids: Iterable[str], field: str, values: Iterable[str], user: str,
                content_changed: bool = False) -> int:
    """Removes `values` from `field` of own models. Returns how many models matched."""
    return _change_tags(db, company, ids, field, values, user, "$setDifference", content_changed)


def _change_tags(db, company, ids, field, values, user, operator, content_changed) -> int:
    if field not in TAG_FIELDS:
        raise ValueError(field)
    values = sorted(set(values))
    ids = list(set(ids))
    if not values or not ids:
        return 0
    # A pipeline update, so the list stays sorted in one round trip; $literal keeps "$x" tags plain.
    new_value = _sorted_set({operator: [{"$ifNull": ["$" + field, []]}, _literal(values)]})
    stamp = {k: _literal(v) for k, v in _stamp(user, now(), content_changed).items()}
    result = db[MODELS].update_many({"_id": {"$in": ids}, **writable(company)},
                                    [{"$set": {field: new_value, **stamp}}])
    return result.matched_count


def metadata_map(items: Iterable[dict]) -> dict:
    """API metadata items `[{key, type, value}]` -> the stored map keyed by escaped key (400/12 for an empty key)."""
    out = {}
    for item in items:
        escaped = metadata_keys.escape_key(item.get("key"))
        out[escaped] = {"key": item["key"].strip(), "type": item.get("type"), "value": item.get("value")}
    return out


def unescape_metadata(metadata: dict | None) -> dict:
    return metadata_keys.unescape_metadata(metadata or {})


def set_metadata(db: Database, company: str, model_id: str, entries: dict, replace: bool, user: str) -> int:
    """Writes metadata entries (a metadata_map) to an own model; `replace` drops the others."""
    stamp = _stamp(user, now(), True)
    if replace:
        update = {"$set": {"metadata": entries, **stamp}}
    else:
        update = {"$set": {**{f"metadata.{k}": v for k, v in entries.items()}, **stamp}}
    return db[MODELS].update_one({"_id": model_id, **writable(company)}, update).matched_count


def delete_metadata(db: Database, company: str, model_id: str, keys: Iterable[str], user: str) -> int:
    update = {"$set": _stamp(user, now(), True)}
    unset = {f"metadata.{metadata_keys.escape_key(key)}": "" for key in keys}
    if unset:
        update["$unset"] = unset
    return db[MODELS].update_one({"_id": model_id, **writable(company)}, update).matched_count


def set_ready(db: Database, company: str, model_id: str, user: str) -> int:
    """Publishes an own model that is not ready yet; returns 1 when it changed."""
    result = db[MODELS].update_one(
        {"_id": model_id, "ready": {"$ne": True}, **writable(company)},
        {"$set": {"ready": True, **_stamp(user, now(), True)}},
    )
    return result.modified_count


def make_public(db: Database, company: str, ids: Iterable[str]) -> int:
    """Own models become public (company ""), remembering their company in company_origin."""
    result = db[MODELS].update_many(
        {"_id": {"$in": list(set(ids))}, **writable(company)},
        {"$set": {"company": "", "company_origin": company}},
    )
    return result.modified_count


def make_private(db: Database, company: str, ids: Iterable[str]) -> int:
    """Public models that `company` made public return to it."""
    result = db[MODELS].update_many(
        {"_id": {"$in": list(set(ids))}, "company": "", "company_origin": company},
        {"$set": {"company": company}, "$unset": {"company_origin": ""}},
    )
    return result.modified_count


def move(db: Database, company: str, ids: Iterable[str], project_id: str | None, user: str) -> int:
    """Moves own models into a project (None: the root). Unknown or foreign ids are skipped."""
    result = db[MODELS].update_many(
        {"_id": {"$in": list(set(ids))}, **writable(company)},
        {"$set": {"project": project_id, **_stamp(user, now(), False)}},
    )
    return result.modified_count


def delete(db: Database, company: str, model_id: str) -> int:
    return db[MODELS].delete_one({"_id": model_id, **writable(company)}).deleted_count


# --- aggregate reads -----------------------------------------------------------------------------


def frameworks(db: Database, company: str, project_ids: list[str] | None = None) -> list[str]:
    """Distinct non-empty framework names of the readable models (within `project_ids` if given), sorted."""
    match = {**readable(company), "framework": {"$nin": [None, ""]}}
    if project_ids:
        match["project"] = {"$in": list(project_ids)}
    pipeline = [{"$match": match}, {"$group": {"_id": "$framework"}}, {"$sort": {"_id": 1}}]
    return [d["_id"] for d in db[MODELS].aggregate(pipeline)]


# --- queries (get_all, get_all_ex, get_by_id_ex) -------------------------------------------------


def to_api(doc: dict) -> dict:
    """A stored model as the API shows it: `id` instead of `_id`, metadata keys unescaped."""
    return query.to_api(doc)


def find_page(db: Database, company: str, data: dict, *, allow_public: bool = True, max_page_size: int,
              scroll_ttl_sec: int) -> tuple[list[dict], str | None]:
    """One page of readable models (API shape) for a get_all-like request, and the scroll id if scrolling."""
    return query.find_page(db[MODELS], QUERY_SPEC, data, readable(company, allow_public), company=company,
                           max_page_size=max_page_size, scroll_ttl_sec=scroll_ttl_sec)


def get_many(db: Database, company: str, ids: Iterable[str], projection: dict | None = None) -> list[dict]:
    """The readable models among `ids` (in no particular order)."""
    ids = [i for i in set(ids) if i]
    if not ids:
        return []
    return list(db[MODELS].find({"_id": {"$in": ids}, **readable(company)}, projection or default_projection()))


def labels_counts(db: Database, ids: list[str]) -> dict[str, int]:
    """{model id: number of labels}, counted by the database."""
    pipeline = [
        {"$match": {"_id": {"$in": ids}}},
        {"$project": {"n": {"$size": {"$objectToArray": {"$ifNull": ["$labels", {}]}}}}},
    ]
    return {d["_id"]: d["n"] for d in db[MODELS].aggregate(pipeline)}
