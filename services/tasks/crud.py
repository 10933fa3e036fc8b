"""tasks.*, part one: reading, creating, editing and cloning tasks, and their model entries.

The runs that create and use models, as far as models and the ClearML SDK need them. Status changes,
publishing, reset and delete are in task_lifecycle.py.
"""

from __future__ import annotations

import copy
import dataclasses

from database import clock
from database.collections import projects_db, tasks_db
from services import errors
from services.call import Call
from services.handlers import handles
from services.shared import legacy_tags, listing, lookups
from services.tasks import model_joins, shapes
from services.tasks.status import CREATED

REFERENCE_FIELDS = ("company", "user", "project", "parent")


LISTING = listing.register("tasks", listing.Listing(
    reply_key="tasks",
    scoped=lambda scope: scope.tasks,
    system_tags=legacy_tags.TASK_SYSTEM_TAGS,
    hidden_tag=shapes.HIDDEN,
    reference_fields=REFERENCE_FIELDS,
    parents=lambda scope: scope.tasks,
    shape=lambda call, docs: [shapes.conform(call, d) for d in docs],
    prepare=model_joins.prepare,
    extend=model_joins.extend,
))


@handles("tasks.get_all")
def get_all(call: Call) -> dict:
    return listing.page(call, LISTING, extended=False)


@handles("tasks.get_all_ex")
def get_all_ex(call: Call) -> dict:
    return listing.page(call, LISTING, extended=True)


@handles("tasks.get_by_id_ex")
def get_by_id_ex(call: Call) -> dict:
    """ClearML's tasks.get_by_id_ex (apiserver/services/tasks.py): get_all_ex with the ids required."""
    if "id" not in call.data:
        raise errors.MissingRequiredFields(missing=["id"])
    return {"tasks": listing.page(call, LISTING, extended=True)["tasks"]}


@handles("tasks.get_types")
def get_types(call: Call) -> dict:
    """The task types used in the given projects (and their subprojects), as ClearML's tasks.get_types."""
    projects = call.data.get("projects") or None
    if projects:
        projects = call.scope.projects.with_descendants(projects)
    condition = {"project": {"$in": projects}} if projects else {}
    return {"types": sorted(t for t in call.scope.tasks.distinct("type", condition) if isinstance(t, str) and t)}


@handles("tasks.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"task": shapes.render(call, lookups.readable_task(call.scope, call.data["task"]), complete=True)}


@handles("tasks.create")
def create(call: Call) -> dict:
    doc = shapes.new_task_doc(call, call.data)
    call.scope.tasks.insert(doc)
    return {"id": doc["_id"]}


@handles("tasks.validate")
def validate(call: Call) -> dict:
    shapes.new_task_doc(call, call.data)
    return {}


@handles("tasks.edit")
def edit(call: Call) -> dict:
    data = call.data
    task = lookups.writable_task(call.scope, data["task"])
    if not data.get("force") and (task.get("status") or CREATED) != CREATED:
        raise errors.InvalidTaskStatus(task=task["_id"], expected=CREATED, status=task.get("status"))
    fields = shapes.sections_from_request(call, data)
    if data.get("status") is not None:
        # ClearML's edit writes the status as given, without the transition rules of the status
        # endpoints (the task must be `created`, or `force` given, like any edit)
        fields["status"] = data["status"]
    if not fields:
        return {"updated": 0, "fields": {}}
    shapes.check_references(call, fields)
    for section in shapes.MERGED_SECTIONS:
        if section in fields and isinstance(task.get(section), dict):
            fields[section] = {**task[section], **fields[section]}
    now = clock.now()
    fields.update(last_update=now, last_change=now, last_changed_by=call.identity.user)
    call.scope.tasks.update_task(task["_id"], fields)
    return {"updated": 1, "fields": shapes.render_fields(call, fields)}


# --- clone / move / tags / models ----------------------------------------------------------------


# Not carried over to a copy: the run marker of the SDK and the archive mark.
CLONE_DROPPED_SYSTEM_TAGS = ("development", shapes.ARCHIVED)


@handles("tasks.clone")
def clone(call: Call) -> dict:
    data = call.data
    source = lookups.readable_task(call.scope, data["task"])
    shown = shapes.render(_modern(call), source)
    project, new_project = data.get("new_task_project"), None
    # a project to make by name is made once the rest of the request has passed its checks, so a refused
    # clone leaves none behind
    make_project = data.get("new_project_name") if not project else None
    execution = {k: v for k, v in shown["execution"].items() if k != "queue"}
    overrides = dict(data["execution_overrides"]) if isinstance(data.get("execution_overrides"), dict) else {}
    # the legacy `execution.model` names the copy's input model (unless input models are given)
    input_models = data.get("new_task_input_models")
    execution_model = overrides.pop("model", None)
    if not input_models and execution_model:
        input_models = [{"name": tasks_db.DEFAULT_ENTRY_NAMES["input"], "model": execution_model}]
    execution.update(overrides)
    if isinstance(execution.get("artifacts"), list):  # a copy has not produced anything yet (as ClearML)
        execution["artifacts"] = [a for a in execution["artifacts"]
                                  if isinstance(a, dict) and (a.get("mode") or "output") != "output"]
    # ClearML makes the source the copy's parent, unless the source has a (live) parent of its own
    source_parent = source.get("parent")
    if not source_parent or source_parent.startswith(tasks_db.DELETED_PREFIX):
        source_parent = source["_id"]
    destination = shown["output"].get("destination")
    request = {
        "name": data.get("new_task_name") or source.get("name"),
        "type": source.get("type"),
        "comment": data.get("new_task_comment") or source.get("comment"),
        "parent": data.get("new_task_parent") or source_parent,
        "project": project or (None if make_project else source.get("project")),
        "tags": data.get("new_task_tags") or source.get("tags"),
        "system_tags": data.get("new_task_system_tags")
        or [t for t in source.get("system_tags") or [] if t not in CLONE_DROPPED_SYSTEM_TAGS],
        "execution": execution,
        "script": shown["script"],
        "hyperparams": data.get("new_task_hyperparams") or shown["hyperparams"],
        "configuration": data.get("new_task_configuration") or shown["configuration"],
        "container": data.get("new_task_container") or shown["container"],
        "models": {"input": input_models or shown["models"]["input"]},
        "output": {"destination": destination} if destination else {},
    }
    doc = shapes.new_task_doc(call, copy.deepcopy(request), checked=False)
    # Like ClearML: what the caller names is always checked, what is copied only with validate_references.
    if data.get("validate_references"):
        shapes.check_references(call, doc, deleted_are_missing=True)
    else:
        shapes.check_references(call, {
            "project": doc["project"] if data.get("new_task_project") else None,
            "parent": doc["parent"] if data.get("new_task_parent") else None,
            "models": doc["models"] if input_models else None,
        }, deleted_are_missing=True)
    if make_project:
        doc["project"] = call.scope.projects.ensure_project_path(call.identity.user, make_project,
                                                                 field="new_project_name")
        new_project = {"id": doc["project"], "name": projects_db.normalize_name(make_project)}
    call.scope.tasks.insert(doc)
    reply = {"id": doc["_id"]}
    if new_project:
        reply["new_project"] = new_project
    return reply


def _modern(call: Call) -> Call:
    """The call as a 2.13+ request: the `models` section without the legacy single-model fields."""
    return dataclasses.replace(call, requested_version=max(call.requested_version, shapes.LEGACY_MODELS_BELOW))


def _assert_own_tasks(call: Call, ids: list[str]) -> None:
    """Like ClearML, a multi-task write names only tasks the caller may write (400/101 with the others)."""
    found = {t["_id"] for t in call.scope.tasks.get_many(list(set(ids)), {"_id": 1}, allow_public=False)}
    missing = sorted(set(ids) - found)
    if missing:
        raise errors.InvalidTaskId(ids=missing)


@handles("tasks.move")
def move(call: Call) -> dict:
    _assert_own_tasks(call, call.data["ids"])
    project_id = lookups.move_target(call.scope, call.identity.user, call.data)
    call.scope.tasks.move_tasks(call.data["ids"], project_id, call.identity.user)
    return {"project_id": project_id}


@handles("tasks.update_tags")
def update_tags(call: Call) -> dict:
    data = call.data
    add, remove = data.get("add_tags") or [], data.get("remove_tags") or []
    if not add and not remove:
        raise errors.ValidationError("either add_tags or remove_tags must be given")
    _assert_own_tasks(call, data["ids"])
    updated = 0
    if add:
        updated += call.scope.tasks.change_tags(data["ids"], add, add=True)
    if remove:
        updated += call.scope.tasks.change_tags(data["ids"], remove, add=False)
    return {"updated": updated}


@handles("tasks.add_or_update_model")
def add_or_update_model(call: Call) -> dict:
    data = call.data
    task = lookups.writable_task(call.scope, data["task"])
    kind = data["type"]
    if kind not in tasks_db.MODEL_KINDS:
        raise errors.ValidationError("error for field 'type'. must be input or output", type=kind)
    # Any id is stored, as ClearML does: cross-company operations on references keep to the companies
    # that can read the model (ScopedCollection.readers_of), so an id naming another company's model
    # reads, changes and blocks nothing of it.
    updated = call.scope.tasks.add_or_update_model_entry(task["_id"], kind, data["name"], data["model"],
                                                         data.get("iteration"))
    return {"updated": updated}


@handles("tasks.delete_models")
def delete_models(call: Call) -> dict:
    data = call.data
    task = lookups.writable_task(call.scope, data["task"])
    by_kind: dict[str, list[str]] = {}
    for item in data["models"]:
        if item.get("type") not in tasks_db.MODEL_KINDS:
            raise errors.ValidationError("error for field 'models.type'. must be input or output",
                                         type=item.get("type"))
        by_kind.setdefault(item["type"], []).append(item["name"])
    updated = 0
    for kind, names in by_kind.items():
        updated |= call.scope.tasks.delete_model_entries(task["_id"], kind, names)
    return {"updated": updated}


@handles("tasks.ping")
def ping(call: Call) -> dict:
    """ClearML answers a ping for a task it cannot find with an empty reply too (nothing to touch)."""
    task = call.scope.tasks.get(call.data["task"], {"_id": 1}, allow_public=False)
    if task is not None:
        call.scope.tasks.touch(task["_id"])
    return {}


@handles("tasks.set_requirements")
def set_requirements(call: Call) -> dict:
    task = lookups.writable_task(call.scope, call.data["task"])
    if not task.get("script"):
        raise errors.MissingTaskFields("Task has no script field", task=task["_id"])
    requirements = call.data["requirements"]
    now = clock.now()
    call.scope.tasks.update_task(task["_id"], {"script.requirements": requirements, "last_update": now,
                                               "last_change": now, "last_changed_by": call.identity.user})
    return {"updated": 1, "fields": {"script.requirements": requirements}}
