"""Tasks: the runs (experiments) that create and use models.

Collection `tasks`, one document per task. Model references live in
`models: {"input": [{name, model, updated}], "output": [...]}`; the task's output model is the LAST
output entry. The legacy `execution.model` / `output.model` fields are never stored, only rendered for
old API versions (services/tasks/crud.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from database import clock, indexes
from database.collections.scoped import Resource, ScopedCollection
from database.errors import QueryError
from database.query import engine, metadata_keys

TASKS = "tasks"
DELETED_PREFIX = "__DELETED__"
MODEL_KINDS = ("input", "output")
STATUSES = ("created", "queued", "in_progress", "stopped", "publishing", "published", "closed", "failed",
            "completed", "unknown")
# A task that is still queued or running, or failed, does not count as recently completed.
NOT_COMPLETED = ("queued", "in_progress", "failed")
DEFAULT_ENTRY_NAMES = {"input": "Input Model", "output": "Output Model"}


class TaskNotFound(QueryError):
    pass


class TaskNotWritable(QueryError):
    pass


SPEC = engine.QuerySpec(
    # filters beyond those tasks.get_all's schema declares (database/query/specs.py adds those)
    list_fields=frozenset({"models.input.model", "models.output.model", "models.input.name",
                           "models.output.name", "execution.queue", "last_worker"}),
    pattern_fields=frozenset({"name", "comment", "status_message", "status_reason"}),
    equality_fields=frozenset({"company"}),
    range_fields=frozenset({"created", "started", "completed", "last_iteration", "last_metrics.*"}),
    datetime_fields=frozenset({"last_change", "published", "last_ping"}),
    text_fields=("name", "id", "comment", "project", "parent"),
    known_fields=frozenset({"id", "company", "user", "name", "type", "status", "status_reason", "status_message",
                            "status_changed", "project", "parent", "comment", "tags", "system_tags", "created",
                            "started", "completed", "published", "last_update", "last_change", "last_changed_by",
                            "last_iteration", "last_metrics", "execution", "script", "hyperparams",
                            "configuration", "models", "output", "runtime", "container", "last_worker",
                            "last_ping", "active_duration"}),
    # the embedded server's clause order (database/query/shape.py): references and names narrow most
    narrow_first=("project", "parent", "name", "user", "tags", "status", "type"),
    wide_last=("system_tags",),
)
RESOURCE = Resource("tasks", TASKS, SPEC)


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
    # `mongodb_only`: read by MongoDB's planner only (database/indexes.py); the embedded server answers
    # those filters from the index of their first clause (project, parent) as it does with them. A task is
    # updated often while it runs (status, iterations, models): every index on it costs each update there.
    for keys, mongodb_only in (
        ([("company", ASCENDING), ("project", ASCENDING)], False),  # tasks.get_all by project
        ([("company", ASCENDING), ("name", ASCENDING)], True),  # name patterns and order
        ([("company", ASCENDING), ("status", ASCENDING)], True),  # the status filter
        ([("company", ASCENDING), ("tags", ASCENDING)], True),  # tag filters
        ([("company", ASCENDING), ("system_tags", ASCENDING)], True),  # the archived view
        ([("company", ASCENDING), ("last_update", DESCENDING)], False),  # the web app's default order
        ([("parent", ASCENDING)], False),  # a task's children
        ([("models.input.model", ASCENDING)], False),  # tasks using a model (delete and archive checks)
        ([("models.output.model", ASCENDING)], False),  # a model's producing task; reference clean-up
    ):
        indexes.ensure_index(coll, keys, mongodb_only=mongodb_only)


def output_model_id(task: dict) -> str | None:
    """The task's output model: its LAST `models.output` entry (None when it has none)."""
    entries = ((task.get("models") or {}).get("output")) or []
    return entries[-1].get("model") if entries else None


def input_model_ids(task: dict) -> list[str]:
    return [e.get("model") for e in ((task.get("models") or {}).get("input") or []) if e.get("model")]


def model_entry(name: str | None, model_id: str, kind: str = "output", updated: datetime | None = None) -> dict:
    return {"name": name or DEFAULT_ENTRY_NAMES[kind], "model": model_id, "updated": updated or clock.now()}


def _of_users(users: list[str] | None) -> dict:
    """The condition "created by one of `users`" (none when no users are named)."""
    return {"user": {"$in": list(users)}} if users else {}


class Tasks(ScopedCollection):
    """The tasks one company sees (own and public) and changes (own)."""

    resource = RESOURCE

    def writable_task(self, task_id: str) -> dict:
        """The company's own task. A missing task raises 400/101 (InvalidTaskId), a public one 403/21."""
        task = self.get(task_id)
        if task is None:
            raise TaskNotFound(id=task_id)
        if task.get("company") != self.company:
            raise TaskNotWritable("task is public", id=task_id)
        return task

    def update_task(self, task_id: str, set_fields: dict | None = None, unset_fields: Iterable[str] = (),
                    condition: dict | None = None) -> dict | None:
        """Applies `$set`/`$unset` to one own task (only when `condition` holds); returns the new doc."""
        update: dict = {}
        if set_fields:
            update["$set"] = set_fields
        unset = {f: "" for f in unset_fields}
        if unset:
            update["$unset"] = unset
        match = {"_id": task_id, **(condition or {})}
        if not update:
            return self.find_one(match, own_only=True)
        return self.find_one_and_update(match, update, return_document=ReturnDocument.AFTER)

    def bump_last_iteration(self, task_id: str, iteration: int | None) -> None:
        """last_iteration = max(current, iteration) (models.edit/update/update_for_task,
        tasks.add_or_update_model)."""
        if task_id and iteration is not None:
            self.update(task_id, {"$max": {"last_iteration": int(iteration)}})

    def update_last_metrics(self, task_id: str, set_fields: dict, iteration: int | None) -> None:
        """Sets `last_metrics.<metric>.<variant>` entries and raises last_iteration (events.add_batch)."""
        update: dict = {"$set": {**set_fields, "last_update": clock.now()}}
        if iteration is not None:
            update["$max"] = {"last_iteration": int(iteration)}
        self.update(task_id, update)

    def touch(self, task_id: str) -> None:
        """tasks.ping: the task is alive."""
        when = clock.now()
        self.update(task_id, {"$set": {"last_ping": when, "last_update": when}})

    def move_tasks(self, ids: Iterable[str], project_id: str | None, user: str) -> int:
        return self.update_many({"_id": {"$in": list(set(ids))}},
                                {"$set": {"project": project_id, "last_change": clock.now(), "last_changed_by": user}})

    def change_tags(self, ids: Iterable[str], tags: Iterable[str], add: bool) -> int:
        """Adds (or removes) user tags on own tasks, keeping them sorted; returns how many changed."""
        tags = sorted(set(tags))
        condition = {"_id": {"$in": list(set(ids))},
                     "tags": {"$not": {"$all": tags}} if add else {"$in": tags}}
        operator = "$setUnion" if add else "$setDifference"
        new_value = {"$sortArray": {"input": {operator: [{"$ifNull": ["$tags", []]}, {"$literal": tags}]},
                                    "sortBy": 1}}
        return self.update_many(condition, [{"$set": {"tags": new_value, "last_change": {"$literal": clock.now()}}}])

    # --- model references ----------------------------------------------------------------------------

    def set_output_models(self, task_id: str, entries: list[dict]) -> None:
        """Replaces an own task's whole output list (models.update_for_task)."""
        self.update(task_id, {"$set": {"models.output": entries, "last_update": clock.now()}})

    def add_or_update_model_entry(self, task_id: str, kind: str, name: str, model_id: str,
                                  iteration: int | None = None) -> int:
        """Upserts the `models.<kind>` entry called `name` of an own task (tasks.add_or_update_model)."""
        entry = model_entry(name, model_id, kind)
        field = f"models.{kind}"
        stamp = {"last_update": entry["updated"]}
        coll, own = self.collection, self.writable()
        for _ in range(3):  # the entry may appear between the two updates
            if coll.update_one({"_id": task_id, f"{field}.name": name, **own},
                               {"$set": {f"{field}.$[e]": entry, **stamp}},
                               array_filters=[{"e.name": name}]).matched_count:
                break
            if coll.update_one({"_id": task_id, f"{field}.name": {"$ne": name}, **own},
                               {"$push": {field: entry}, "$set": stamp}).matched_count:
                break
        self.bump_last_iteration(task_id, iteration)
        return 1

    def delete_model_entries(self, task_id: str, kind: str, names: Iterable[str]) -> int:
        """Pulls the named `models.<kind>` entries of an own task (tasks.delete_models); 1 if any went."""
        return self.collection.update_one(
            {"_id": task_id, **self.writable()},
            {"$pull": {f"models.{kind}": {"name": {"$in": list(names)}}}, "$set": {"last_update": clock.now()}},
        ).modified_count

    # --- references from other companies ------------------------------------------------------------

    def count_using_model_as_input(self, model: dict) -> int:
        """How many tasks, of any company that can read the model, use it as an input (models.delete
        refuses with 400/205). Only a count leaves this function: no other company's data is read."""
        return self.collection.count_documents({"models.input.model": model["_id"], **self.readers_of(model)})

    def used_as_input_elsewhere(self, model: dict, task_id: str) -> bool:
        """Whether a task other than `task_id`, of any company that can read the model, uses it as an input."""
        condition = {"models.input.model": model["_id"], "_id": {"$ne": task_id}, **self.readers_of(model)}
        return self.collection.find_one(condition, {"_id": 1}) is not None

    def replace_model_references(self, model_id: str, when: datetime | None = None) -> dict:
        """Forgets a deleted model in every task that references it, of any company (the model is gone
        for all of them; the rewrite tells a company nothing its own stored id did not).

        Input references become `__DELETED__<id>`. In a published task the output entry also becomes
        `__DELETED__<id>` and `output.error` says when the model was deleted; in any other task the
        output entry is pulled. Returns `{"inputs": n, "published_outputs": n, "pulled_outputs": n}`.
        """
        when = when or clock.now()
        deleted = DELETED_PREFIX + model_id
        coll = self.collection
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

    def detach_children(self, task_id: str) -> int:
        """Tasks whose parent is deleted lose their parent (of any company: the parent is gone for all)."""
        return self.collection.update_many({"parent": task_id}, {"$set": {"parent": None}}).modified_count

    # --- counts for projects -------------------------------------------------------------------------

    def count_by_project(self, project_ids: Iterable[str], extra: dict | None = None) -> dict:
        """{project id: number of the company's tasks in it}."""
        return self.count_by("project", {"project": {"$in": list(project_ids)}, **(extra or {})})

    def status_counts(self, project_ids: Iterable[str], archived: bool, users: list[str] | None = None) -> dict:
        """{status: number of the company's (archived or active) tasks in the projects}, every status listed;
        with `users`, only their tasks."""
        archived_filter = {"system_tags": "archived"} if archived else {"system_tags": {"$ne": "archived"}}
        found = self.count_by("status", {"project": {"$in": list(project_ids)}, **archived_filter, **_of_users(users)})
        counts = dict.fromkeys(STATUSES, 0)
        for status, n in found.items():
            counts[status or "unknown"] = counts.get(status or "unknown", 0) + n
        return counts

    def count_in_projects(self, project_ids: Iterable[str], extra: dict | None = None) -> int:
        return self.count({"project": {"$in": list(project_ids)}, **(extra or {})})

    def timing(self, project_ids: Iterable[str], archived: bool, now: datetime | None = None,
               users: list[str] | None = None) -> dict:
        """{total_runtime (seconds), completed_tasks_24h, last_task_run (datetime or None)} over the
        company's (archived or active) tasks in the projects (projects.get_all_ex include_stats); with
        `users`, only their tasks."""
        now = now or clock.now()
        since = now - timedelta(hours=24)
        archived_filter = {"system_tags": "archived"} if archived else {"system_tags": {"$ne": "archived"}}
        runtime, recent, last_run = 0, 0, None
        # Three small fields per task; dates are compared here rather than with aggregation date
        # arithmetic, which the embedded server may not support.
        for task in self.find({"project": {"$in": list(project_ids)}, **archived_filter, **_of_users(users)},
                              {"started": 1, "completed": 1, "status": 1, "_id": 0}, own_only=True):
            started, completed = task.get("started"), task.get("completed")
            if isinstance(started, datetime):
                last_run = started if last_run is None or started > last_run else last_run
            if isinstance(completed, datetime):
                if isinstance(started, datetime) and completed > started:
                    runtime += int((completed - started).total_seconds())
                if completed > since and task.get("status") not in NOT_COMPLETED:
                    recent += 1
        return {"total_runtime": runtime, "completed_tasks_24h": recent, "last_task_run": last_run}

    def in_projects_for_removal(self, project_ids: Iterable[str]) -> list[dict]:
        """The company's tasks in the projects: ids and artifacts (the files a deletion reports)."""
        return self.find({"project": {"$in": list(project_ids)}}, {"_id": 1, "execution.artifacts": 1}, own_only=True)

    def clear_project(self, project_ids: Iterable[str]) -> int:
        """The company's tasks lose their project (projects.delete without delete_contents)."""
        return self.update_many({"project": {"$in": list(project_ids)}}, {"$set": {"project": None}})
