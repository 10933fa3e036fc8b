"""Tasks: the runs (experiments) that create and use models.

Collection `tasks`, one document per task. Model references live in
`models: {"input": [{name, model, updated}], "output": [...]}`; the task's output model is the LAST
output entry. The legacy `execution.model` / `output.model` fields are never stored, only rendered for
old API versions (services/tasks.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timezone

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from database import metadata_keys, query
from database.errors import QueryError
from database.models_db import MODELS

TASKS = "tasks"
DELETED_PREFIX = "__DELETED__"
MODEL_KINDS = ("input", "output")
STATUSES = ("created", "queued", "in_progress", "stopped", "publishing", "published", "closed", "failed",
            "completed", "unknown")
DEFAULT_ENTRY_NAMES = {"input": "Input Model", "output": "Output Model"}


class TaskNotFound(QueryError):
    api_error = "InvalidTaskId"


class TaskNotWritable(QueryError):
    api_error = "NoWritePermission"


TASK_SPEC = query.QuerySpec(
    list_fields=frozenset({"id", "user", "project", "parent", "type", "status", "tags", "system_tags",
                           "models.input.model", "models.output.model", "models.input.name",
                           "models.output.name", "execution.queue", "last_worker"}),
    pattern_fields=frozenset({"name", "comment", "status_message", "status_reason"}),
    equality_fields=frozenset({"company"}),
    range_fields=frozenset({"created", "started", "completed", "last_iteration", "last_metrics.*"}),
    datetime_fields=frozenset({"last_update", "last_change", "status_changed", "published", "last_ping"}),
    text_fields=("name", "id", "comment", "project", "parent"),
    known_fields=frozenset({"id", "company", "user", "name", "type", "status", "status_reason", "status_message",
                            "status_changed", "project", "parent", "comment", "tags", "system_tags", "created",
                            "started", "completed", "published", "last_update", "last_change", "last_changed_by",
                            "last_iteration", "last_metrics", "execution", "script", "hyperparams",
                            "configuration", "models", "output", "runtime", "container", "last_worker",
                            "last_ping"}),
)


# Hyper-parameter sections and names and configuration names are user text (`a.b`, `$x`), stored
# escaped like metadata keys so that they are valid MongoDB field names on every server.
def store_hyperparams(hyperparams: dict) -> dict:
    return {
        metadata_keys.escape_key(section, "hyperparams"): (
            {metadata_keys.escape_key(name, "hyperparams"): item for name, item in params.items()}
            if isinstance(params, dict) else params
        )
        for section, params in hyperparams.items()
    }


def load_hyperparams(hyperparams: dict) -> dict:
    return {
        metadata_keys.unescape_key(section): (
            {metadata_keys.unescape_key(name): item for name, item in params.items()}
            if isinstance(params, dict) else params
        )
        for section, params in hyperparams.items()
    }


def store_configuration(configuration: dict) -> dict:
    return {metadata_keys.escape_key(name, "configuration"): item for name, item in configuration.items()}


def load_configuration(configuration: dict) -> dict:
    return {metadata_keys.unescape_key(name): item for name, item in configuration.items()}


def ensure_indexes(db: Database) -> None:
    coll = db[TASKS]
    coll.create_index([("company", ASCENDING), ("project", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("name", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("status", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("tags", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("system_tags", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("last_update", DESCENDING)])
    coll.create_index([("parent", ASCENDING)])
    coll.create_index([("models.input.model", ASCENDING)])
    coll.create_index([("models.output.model", ASCENDING)])


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


def _scope(company: str, allow_public: bool) -> dict:
    return {"company": {"$in": [company, ""]}} if allow_public and company else {"company": company}


def get_task(db: Database, company: str, task_id: str, allow_public: bool = True,
             projection: dict | None = None) -> dict | None:
    """The task if it is the company's own (or public, when allowed), else None."""
    if not task_id:
        return None
    return db[TASKS].find_one({"_id": task_id, **_scope(company, allow_public)}, projection)


def get_tasks(db: Database, company: str, ids: Iterable[str], allow_public: bool = True,
              projection: dict | None = None) -> list[dict]:
    ids = [i for i in ids if i]
    if not ids:
        return []
    return list(db[TASKS].find({"_id": {"$in": ids}, **_scope(company, allow_public)}, projection))


def find_page(db: Database, company: str, data: dict, allow_public: bool = True, extra: dict | None = None,
              **options) -> tuple[list[dict], str | None]:
    """One page of the readable tasks matching a get_all request (shared query engine), in API shape."""
    base = {**_scope(company, allow_public), **(extra or {})}
    return query.find_page(db[TASKS], TASK_SPEC, data, base, company=company, **options)


def get_writable_task(db: Database, company: str, task_id: str) -> dict:
    """The company's own task. A missing task raises 400/101 (InvalidTaskId), a public one 403/21.

    Used by models.create/edit/update (the `task` field) and every tasks.* write.
    """
    task = get_task(db, company, task_id, allow_public=True)
    if task is None:
        raise TaskNotFound(id=task_id)
    if task.get("company") != company:
        raise TaskNotWritable("task is public", id=task_id)
    return task


def insert_task(db: Database, doc: dict) -> dict:
    db[TASKS].insert_one(doc)
    return doc


def update_task(db: Database, task_id: str, set_fields: dict | None = None, unset_fields: Iterable[str] = (),
                condition: dict | None = None) -> dict | None:
    """Applies `$set`/`$unset` to one task (optionally only when `condition` holds); returns the new doc."""
    update: dict = {}
    if set_fields:
        update["$set"] = set_fields
    unset = {f: "" for f in unset_fields}
    if unset:
        update["$unset"] = unset
    if not update:
        return db[TASKS].find_one({"_id": task_id, **(condition or {})})
    return db[TASKS].find_one_and_update({"_id": task_id, **(condition or {})}, update,
                                         return_document=ReturnDocument.AFTER)


def delete_task(db: Database, task_id: str) -> int:
    return db[TASKS].delete_one({"_id": task_id}).deleted_count


def bump_last_iteration(db: Database, task_id: str, iteration: int | None) -> None:
    """last_iteration = max(current, iteration). Called by models.edit/update/update_for_task and
    tasks.add_or_update_model when they get an `iteration`."""
    if task_id and iteration is not None:
        db[TASKS].update_one({"_id": task_id}, {"$max": {"last_iteration": int(iteration)}})


def update_last_metrics(db: Database, task_id: str, set_fields: dict, iteration: int | None) -> None:
    """Sets `last_metrics.<metric>.<variant>` entries and raises last_iteration (events.add_batch)."""
    update: dict = {"$set": {**set_fields, "last_update": now()}}
    if iteration is not None:
        update["$max"] = {"last_iteration": int(iteration)}
    db[TASKS].update_one({"_id": task_id}, update)


# --- model references ------------------------------------------------------------------------------


def output_model_id(task: dict) -> str | None:
    """The task's output model: its LAST `models.output` entry (None when it has none)."""
    entries = ((task.get("models") or {}).get("output")) or []
    return entries[-1].get("model") if entries else None


def input_model_ids(task: dict) -> list[str]:
    return [e.get("model") for e in ((task.get("models") or {}).get("input") or []) if e.get("model")]


def model_entry(name: str | None, model_id: str, kind: str = "output", updated: datetime | None = None) -> dict:
    return {"name": name or DEFAULT_ENTRY_NAMES[kind], "model": model_id, "updated": updated or now()}


def tasks_using_model_as_input(db: Database, model_id: str) -> int:
    """How many tasks, of ANY company, use the model as an input (models.delete refuses with 400/205)."""
    return db[TASKS].count_documents({"models.input.model": model_id})


def replace_model_references(db: Database, model_id: str, when: datetime | None = None) -> dict:
    """Forgets a deleted model in every task (models.delete, tasks.delete and projects.delete call it).

    Input references become `__DELETED__<id>`. In a published task the output entry also becomes
    `__DELETED__<id>` and `output.error` says when the model was deleted; in any other task the
    output entry is pulled. Returns `{"inputs": n, "published_outputs": n, "pulled_outputs": n}`.
    """
    when = when or now()
    deleted = DELETED_PREFIX + model_id
    coll = db[TASKS]
    inputs = coll.update_many(
        {"models.input.model": model_id},
        {"$set": {"models.input.$[e].model": deleted}},
        array_filters=[{"e.model": model_id}],
    ).modified_count
    published = coll.update_many(
        {"models.output.model": model_id, "status": "published"},
        {"$set": {"models.output.$[e].model": deleted, "output.error": f"model deleted on {when.isoformat()}"}},
        array_filters=[{"e.model": model_id}],
    ).modified_count
    pulled = coll.update_many(
        {"models.output.model": model_id},
        {"$pull": {"models.output": {"model": model_id}}},
    ).modified_count
    return {"inputs": inputs, "published_outputs": published, "pulled_outputs": pulled}


def set_output_models(db: Database, task_id: str, entries: list[dict]) -> None:
    """Replaces the task's whole output list (models.update_for_task with override_model_id)."""
    db[TASKS].update_one({"_id": task_id}, {"$set": {"models.output": entries, "last_update": now()}})


def add_or_update_model_entry(db: Database, task_id: str, kind: str, name: str, model_id: str,
                              iteration: int | None = None) -> int:
    """Upserts the `models.<kind>` entry called `name` (tasks.add_or_update_model). Returns 1."""
    entry = model_entry(name, model_id, kind)
    field = f"models.{kind}"
    coll = db[TASKS]
    stamp = {"last_update": entry["updated"]}
    for _ in range(3):  # the entry may appear between the two updates
        result = coll.update_one(
            {"_id": task_id, f"{field}.name": name},
            {"$set": {f"{field}.$[e]": entry, **stamp}},
            array_filters=[{"e.name": name}],
        )
        if result.matched_count:
            break
        result = coll.update_one(
            {"_id": task_id, f"{field}.name": {"$ne": name}},
            {"$push": {field: entry}, "$set": stamp},
        )
        if result.matched_count:
            break
    bump_last_iteration(db, task_id, iteration)
    return 1


def delete_model_entries(db: Database, task_id: str, kind: str, names: Iterable[str]) -> int:
    """Pulls the named `models.<kind>` entries (tasks.delete_models); returns 1 if any went."""
    result = db[TASKS].update_one(
        {"_id": task_id},
        {"$pull": {f"models.{kind}": {"name": {"$in": list(names)}}}, "$set": {"last_update": now()}},
    )
    return result.modified_count


def models_created_by(db: Database, company: str, task_id: str) -> list[dict]:
    """The company's models whose `task` is this one (tasks.reset/delete decide their fate).

    Reads the models collection, which database/models_db.py owns; it has no such query."""
    return list(db[MODELS].find({"company": company, "task": task_id}))


def detach_models_from_task(db: Database, company: str, task_id: str) -> int:
    """The company's models created by a deleted task point at `__DELETED__<task id>` (tasks.delete).

    Writes the models collection, which database/models_db.py owns; it has no such update."""
    return db[MODELS].update_many(
        {"company": company, "task": task_id}, {"$set": {"task": DELETED_PREFIX + task_id}}
    ).modified_count


def detach_children(db: Database, task_id: str) -> int:
    """Tasks whose parent is deleted lose their parent."""
    return db[TASKS].update_many({"parent": task_id}, {"$set": {"parent": None}}).modified_count


def move_tasks(db: Database, company: str, ids: Iterable[str], project_id: str | None, user: str) -> int:
    when = now()
    return db[TASKS].update_many(
        {"_id": {"$in": list(set(ids))}, "company": company},
        {"$set": {"project": project_id, "last_change": when, "last_changed_by": user}},
    ).modified_count


def change_tags(db: Database, company: str, ids: Iterable[str], tags: Iterable[str], add: bool) -> int:
    """Adds (or removes) user tags on the company's tasks, keeping them sorted; returns how many changed."""
    tags = sorted(set(tags))
    query = {"_id": {"$in": list(set(ids))}, "company": company,
             "tags": {"$not": {"$all": tags}} if add else {"$in": tags}}
    operator = "$setUnion" if add else "$setDifference"
    new_value = {"$sortArray": {"input": {operator: [{"$ifNull": ["$tags", []]}, {"$literal": tags}]},
                                "sortBy": 1}}
    return db[TASKS].update_many(query, [{"$set": {"tags": new_value, "last_change": {"$literal": now()}}}]
                                 ).modified_count


def touch(db: Database, task_id: str) -> None:
    """tasks.ping: the task is alive."""
    when = now()
    db[TASKS].update_one({"_id": task_id}, {"$set": {"last_ping": when, "last_update": when}})


# --- counts and tags for projects ------------------------------------------------------------------


def count_by_project(db: Database, company: str, project_ids: Iterable[str], extra: dict | None = None) -> dict:
    """{project id: number of the company's tasks in it}."""
    pipeline = [
        {"$match": {"company": company, "project": {"$in": list(project_ids)}, **(extra or {})}},
        {"$group": {"_id": "$project", "n": {"$sum": 1}}},
    ]
    return {d["_id"]: d["n"] for d in db[TASKS].aggregate(pipeline)}


def status_counts(db: Database, company: str, project_ids: Iterable[str], archived: bool) -> dict:
    """{status: number of the company's (archived or active) tasks in the projects}, every status listed."""
    archived_filter = {"system_tags": "archived"} if archived else {"system_tags": {"$ne": "archived"}}
    pipeline = [
        {"$match": {"company": company, "project": {"$in": list(project_ids)}, **archived_filter}},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    counts = dict.fromkeys(STATUSES, 0)
    for doc in db[TASKS].aggregate(pipeline):
        counts[doc["_id"] or "unknown"] = counts.get(doc["_id"] or "unknown", 0) + doc["n"]
    return counts


def projects_with_users(db: Database, company: str, users: Iterable[str]) -> list[str]:
    """Projects holding tasks of these users (projects.get_all_ex active_users)."""
    query = {"company": company, "user": {"$in": list(users)}, "project": {"$nin": [None, ""]}}
    return list(db[TASKS].distinct("project", query))


def count_in_projects(db: Database, company: str, project_ids: Iterable[str], extra: dict | None = None) -> int:
    return db[TASKS].count_documents({"company": company, "project": {"$in": list(project_ids)}, **(extra or {})})


def find_tasks(db: Database, query: dict, projection: dict | None = None) -> list[dict]:
    return list(db[TASKS].find(query, projection))


def clear_project(db: Database, company: str, project_ids: Iterable[str]) -> int:
    """Tasks lose their project (projects.delete without delete_contents)."""
    return db[TASKS].update_many(
        {"company": company, "project": {"$in": list(project_ids)}}, {"$set": {"project": None}}
    ).modified_count
