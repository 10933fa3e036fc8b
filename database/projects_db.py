"""Projects: a tree of named folders (full `/` paths) that tasks and models live in.

Collection `projects`, one document per project:
`{_id, company, user, name (full path "a/b/c"), basename ("c"), parent (id or None), path (ancestor ids,
root first), description, tags, system_tags, default_output_destination, created, last_update}`.
A public project has `company == ""`; reads see own + public, writes only own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timezone

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import query
from database.errors import QueryError
from database.models_db import MODELS

PROJECTS = "projects"
MIN_BASENAME = 3
HIDDEN_TAG = "hidden"


class InvalidProjectName(QueryError):
    api_error = "InvalidProjectName"


class ProjectNameTooShort(QueryError):
    api_error = "DataValidationError"


class PublicProjectExists(QueryError):
    api_error = "PublicProjectExists"


class DuplicateProjectName(QueryError):
    api_error = "ExpectedUniqueData"


class InvalidProjectId(QueryError):
    api_error = "InvalidProjectId"


PROJECT_SPEC = query.QuerySpec(
    list_fields=frozenset({"id", "tags", "system_tags", "user", "parent", "path"}),
    pattern_fields=frozenset({"name", "basename", "description"}),
    equality_fields=frozenset({"company"}),
    datetime_fields=frozenset({"created", "last_update"}),
    text_fields=("name", "basename", "description", "id"),
    known_fields=frozenset({"id", "company", "user", "name", "basename", "description", "created", "tags",
                            "system_tags", "default_output_destination", "last_update", "parent", "path",
                            # ClearML's featured rank (web app's order_by); never stored here, so all tie
                            "featured"}),
)


def ensure_indexes(db: Database) -> None:
    coll = db[PROJECTS]
    coll.create_index([("company", ASCENDING), ("name", ASCENDING)], unique=True)
    coll.create_index([("company", ASCENDING), ("basename", ASCENDING)])
    coll.create_index([("parent", ASCENDING)])
    coll.create_index([("path", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("system_tags", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("tags", ASCENDING)])


def now() -> datetime:
    return datetime.now(timezone.utc)


def _scope(company: str, allow_public: bool) -> dict:
    return {"company": {"$in": [company, ""]}} if allow_public and company else {"company": company}


def normalize_name(name: str | None) -> str:
    """`" a//b/ "` -> `"a/b"`: trimmed parts, empty ones dropped. An empty result raises 400/407."""
    parts = [p.strip() for p in (name or "").split("/")]
    parts = [p for p in parts if p]
    if not parts:
        raise InvalidProjectName("project name must not be empty", name=name or "")
    return "/".join(parts)


def split_name(name: str) -> tuple[str, str]:
    """`"a/b/c"` -> `("a/b", "c")`."""
    prefix, _, basename = name.rpartition("/")
    return prefix, basename


def check_basename(name: str) -> None:
    for part in name.split("/"):
        if len(part) < MIN_BASENAME:
            raise ProjectNameTooShort(
                f"error for field 'name'. project name parts need at least {MIN_BASENAME} characters", name=name
            )


def get_project(db: Database, company: str, project_id: str, allow_public: bool = True) -> dict | None:
    """The project if it is the company's own (or public, when allowed), else None."""
    if not project_id:
        return None
    return db[PROJECTS].find_one({"_id": project_id, **_scope(company, allow_public)})


def find_page(db: Database, company: str, data: dict, allow_public: bool = True, extra: dict | None = None,
              **options) -> tuple[list[dict], str | None]:
    """One page of the readable projects matching a get_all request (shared query engine), in API shape."""
    base = {**_scope(company, allow_public), **(extra or {})}
    return query.find_page(db[PROJECTS], PROJECT_SPEC, data, base, company=company, **options)


def get_projects(db: Database, company: str, ids: Iterable[str], allow_public: bool = True,
                 projection: dict | None = None) -> list[dict]:
    ids = [i for i in ids if i]
    if not ids:
        return []
    return list(db[PROJECTS].find({"_id": {"$in": ids}, **_scope(company, allow_public)}, projection))


def find_by_name(db: Database, company: str, name: str) -> dict | None:
    """The project named exactly `name` (full path) in `company` only."""
    return db[PROJECTS].find_one({"company": company, "name": name})


def new_project_doc(company: str, user: str, name: str, parent: dict | None, description: str = "",
                    tags: list | None = None, system_tags: list | None = None,
                    default_output_destination: str | None = None) -> dict:
    when = now()
    doc = {
        "_id": uuid.uuid4().hex,
        "company": company,
        "user": user,
        "name": name,
        "basename": split_name(name)[1],
        "parent": parent["_id"] if parent else None,
        "path": (list(parent.get("path") or []) + [parent["_id"]]) if parent else [],
        "description": description or "",
        "tags": sorted(set(tags or [])),
        "system_tags": sorted(set(system_tags or [])),
        "created": when,
        "last_update": when,
    }
    if default_output_destination:
        doc["default_output_destination"] = default_output_destination
    return doc


def _ensure_parents(db: Database, company: str, user: str, name: str) -> dict | None:
    """The parent project of `name`, creating any missing ancestors. None for a root-level name."""
    prefix, _ = split_name(name)
    if not prefix:
        return None
    parent = None
    parts = prefix.split("/")
    for depth in range(1, len(parts) + 1):
        path_name = "/".join(parts[:depth])
        existing = find_by_name(db, company, path_name)
        if existing is None:
            doc = new_project_doc(company, user, path_name, parent)
            try:
                db[PROJECTS].insert_one(doc)
                existing = doc
            except DuplicateKeyError:  # created concurrently
                existing = find_by_name(db, company, path_name)
        parent = existing
    return parent


def create_project(db: Database, company: str, user: str, name: str, description: str = "",
                   tags: list | None = None, system_tags: list | None = None,
                   default_output_destination: str | None = None) -> dict:
    """Creates a project (and any missing parents of a `/` path). A taken name raises 400/801."""
    name = normalize_name(name)
    check_basename(name)
    if find_by_name(db, company, name) is not None:
        raise DuplicateProjectName(name=name)
    parent = _ensure_parents(db, company, user, name)
    doc = new_project_doc(company, user, name, parent, description, tags, system_tags, default_output_destination)
    try:
        db[PROJECTS].insert_one(doc)
    except DuplicateKeyError:
        raise DuplicateProjectName(name=name) from None
    return doc


def ensure_project_path(db: Database, company: str, user: str, name: str) -> str:
    """The id of the company's project named `name` (a `/` path), created with its parents if missing.

    Used by models.move / tasks.move (project_name) and the SDK flows. A name that exists only as a
    public project raises 400/414; a part shorter than 3 characters raises 400/800.
    """
    name = normalize_name(name)
    existing = find_by_name(db, company, name)
    if existing is not None:
        return existing["_id"]
    if company and find_by_name(db, "", name) is not None:
        raise PublicProjectExists(name=name)
    check_basename(name)
    parent = _ensure_parents(db, company, user, name)
    doc = new_project_doc(company, user, name, parent)
    try:
        db[PROJECTS].insert_one(doc)
    except DuplicateKeyError:
        return find_by_name(db, company, name)["_id"]
    return doc["_id"]


def descendant_ids(db: Database, project_ids: Iterable[str]) -> list[str]:
    """All projects below the given ones (not including them)."""
    ids = [i for i in project_ids if i]
    if not ids:
        return []
    return [d["_id"] for d in db[PROJECTS].find({"path": {"$in": ids}}, {"_id": 1})]


def with_descendants(db: Database, project_ids: Iterable[str]) -> list[str]:
    """The given ids followed by every project below them."""
    ids = [i for i in project_ids if i]
    return ids + [i for i in descendant_ids(db, ids) if i not in ids]


def with_ancestors(db: Database, project_ids: Iterable[str]) -> list[str]:
    """The given ids and the ids of every project above them."""
    ids = [i for i in project_ids if i]
    out = dict.fromkeys(ids)
    for doc in db[PROJECTS].find({"_id": {"$in": ids}}, {"path": 1}):
        out.update(dict.fromkeys(doc.get("path") or []))
    return list(out)


def descendants_by_project(db: Database, company: str, project_ids: Iterable[str]) -> dict[str, list[dict]]:
    """{project id: [{id, name} of every readable project below it, by name]}."""
    ids = list(project_ids)
    below: dict[str, list[dict]] = {i: [] for i in ids}
    query = {"path": {"$in": ids}, **_scope(company, True)}
    for doc in db[PROJECTS].find(query, {"name": 1, "path": 1}).sort("name", 1):
        for ancestor in doc.get("path") or []:
            if ancestor in below:
                below[ancestor].append({"id": doc["_id"], "name": doc["name"]})
    return below


def update_project(db: Database, company: str, project_id: str, fields: dict) -> int:
    """Sets plain fields (not name) on an own project; returns the matched count."""
    if not fields:
        return 0
    result = db[PROJECTS].update_one({"_id": project_id, "company": company}, {"$set": fields})
    return result.matched_count


def rename_project(db: Database, company: str, project: dict, new_name: str) -> None:
    """Renames a project (moving it under a new parent, created if missing) and rewrites its descendants."""
    new_name = normalize_name(new_name)
    check_basename(new_name)
    if new_name == project["name"]:
        return
    if find_by_name(db, company, new_name) is not None:
        raise DuplicateProjectName(name=new_name)
    if new_name.startswith(project["name"] + "/"):
        raise InvalidProjectName("a project cannot move below itself", name=new_name)
    parent = _ensure_parents(db, company, project.get("user", ""), new_name)
    new_path = (list(parent.get("path") or []) + [parent["_id"]]) if parent else []
    when = now()
    db[PROJECTS].update_one(
        {"_id": project["_id"]},
        {"$set": {"name": new_name, "basename": split_name(new_name)[1], "parent": parent["_id"] if parent else None,
                  "path": new_path, "last_update": when}},
    )
    old_prefix = project["name"] + "/"
    for child in db[PROJECTS].find({"path": project["_id"]}):
        index = child["path"].index(project["_id"])
        db[PROJECTS].update_one(
            {"_id": child["_id"]},
            {"$set": {"name": new_name + "/" + child["name"][len(old_prefix):],
                      "path": new_path + child["path"][index:], "last_update": when}},
        )


def delete_projects(db: Database, company: str, project_ids: Iterable[str]) -> int:
    ids = list(project_ids)
    if not ids:
        return 0
    return db[PROJECTS].delete_many({"_id": {"$in": ids}, "company": company}).deleted_count


def distinct_values(db: Database, collection: str, field: str, query: dict) -> list:
    """Sorted distinct non-empty values of `field` in `collection` (used for tag lists)."""
    return sorted(v for v in db[collection].distinct(field, query) if v not in (None, ""))


# --- models inside projects ----------------------------------------------------------------------
# database/models_db.py owns the models collection but has no per-project queries; these few read or
# write it by its collection name for projects.* (counts, tags, metadata, delete).


def _models_scope(company: str, project_ids: Iterable[str] | None, allow_public: bool) -> dict:
    query = {"company": {"$in": [company, ""]}} if allow_public and company else {"company": company}
    if project_ids is not None:
        query["project"] = {"$in": list(project_ids)}
    return query


def count_models(db: Database, company: str, project_ids: Iterable[str], extra: dict | None = None) -> int:
    """How many of the company's models are in the projects."""
    return db[MODELS].count_documents({**_models_scope(company, project_ids, False), **(extra or {})})


def count_models_by_project(db: Database, company: str, project_ids: Iterable[str],
                            extra: dict | None = None) -> dict:
    """{project id: number of readable models directly in it}."""
    pipeline = [
        {"$match": {**_models_scope(company, project_ids, True), **(extra or {})}},
        {"$group": {"_id": "$project", "n": {"$sum": 1}}},
    ]
    return {d["_id"]: d["n"] for d in db[MODELS].aggregate(pipeline)}


def models_in(db: Database, company: str, project_ids: Iterable[str]) -> list[dict]:
    """The company's models in the projects (whole documents: deleting one needs its file fields)."""
    return list(db[MODELS].find(_models_scope(company, project_ids, False)))


def clear_models_project(db: Database, company: str, project_ids: Iterable[str]) -> int:
    """The company's models in the projects lose their project (projects.delete without contents)."""
    return db[MODELS].update_many(_models_scope(company, project_ids, False),
                                  {"$set": {"project": None}}).modified_count


def model_metadata_keys(db: Database, company: str, project_ids: Iterable[str] | None) -> set[str]:
    """Stored (escaped) metadata keys of the readable models in the projects."""
    query = {**_models_scope(company, project_ids, True), "metadata": {"$exists": True, "$ne": {}}}
    keys: set[str] = set()
    for doc in db[MODELS].find(query, {"metadata": 1}):
        if isinstance(doc.get("metadata"), dict):
            keys.update(doc["metadata"])
    return keys


def model_metadata_values(db: Database, company: str, project_ids: Iterable[str] | None, escaped_key: str,
                          allow_public: bool = True) -> list:
    """Distinct values of one metadata entry among the models in the projects, sorted."""
    query = _models_scope(company, project_ids, allow_public)
    values = db[MODELS].distinct(f"metadata.{escaped_key}.value", query)
    return sorted(values, key=lambda v: (v is not None, str(v)))
