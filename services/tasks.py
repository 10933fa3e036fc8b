"""tasks.*: the runs that create and use models, as far as models and the ClearML SDK need them.

Also the helpers the models service calls: `publish_task` (models.set_ready / publish_many) and the
update_for_task helpers `task_for_model_update`, `model_fields_from_task`, `link_output_model`.
"""

from __future__ import annotations

import copy
import dataclasses

from database import projects_db, tasks_db
from database.errors import QueryError
from services import errors, references, task_status
from services.call import Call
from services.handlers import handles
from services.task_status import CREATED, IN_PROGRESS
from services.workflows import lookups, publishing, removal

TASK_TYPES = (
    "training", "testing", "inference", "data_processing", "application", "monitor", "controller",
    "optimizer", "service", "qc", "custom", "report",
)
MIN_NAME = 3
ARCHIVED = "archived"
HIDDEN = "hidden"
# Sections the SDK reads from tasks.get_by_id; a missing one is returned empty, never null.
DICT_SECTIONS = ("output", "execution", "script", "hyperparams", "configuration", "runtime", "container")
# Embedded documents: tasks.edit merges their top-level keys into the stored ones (ClearML does too);
# every other field is replaced whole.
MERGED_SECTIONS = ("output", "execution", "script", "models")
EDITABLE = (
    "name", "tags", "system_tags", "type", "comment", "parent", "project", "execution", "hyperparams",
    "configuration", "script", "models", "container", "runtime", "output",
)
LEGACY_MODELS_BELOW = "2.13"


# --- reading and rendering -----------------------------------------------------------------------


def uses_legacy_models(call: Call) -> bool:
    """Requests below 2.13 send and get `execution.model` / `output.model` instead of `models`."""
    return not call.version_at_least(LEGACY_MODELS_BELOW)


def render(call: Call, doc: dict, complete: bool = False) -> dict:
    """The API form of a stored task. `complete` fills every section the SDK reads (get_by_id)."""
    return conform(call, {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}, complete)


def conform(call: Call, out: dict, complete: bool = False) -> dict:
    """A task in API shape (`id`), as the requested version shows it."""
    for tag_field in ("tags", "system_tags"):
        if tag_field in out:
            out[tag_field] = sorted(out[tag_field] or [])
    if isinstance(out.get("hyperparams"), dict):
        out["hyperparams"] = tasks_db.load_hyperparams(out["hyperparams"])
    if isinstance(out.get("configuration"), dict):
        out["configuration"] = tasks_db.load_configuration(out["configuration"])
    if complete:
        for section in DICT_SECTIONS:
            if not isinstance(out.get(section), dict):
                out[section] = {}
        out.setdefault("last_iteration", 0)
        for tag_field in ("tags", "system_tags"):
            out.setdefault(tag_field, [])
    if complete or "models" in out:
        models = out.get("models") if isinstance(out.get("models"), dict) else {}
        out["models"] = {kind: list(models.get(kind) or []) for kind in tasks_db.MODEL_KINDS}
    if uses_legacy_models(call) and "models" in out:
        _add_legacy_model_fields(out)
    return out


def _add_legacy_model_fields(out: dict) -> None:
    inputs = out["models"]["input"]
    outputs = out["models"]["output"]
    if inputs:
        out["execution"] = {**(out.get("execution") or {}), "model": inputs[0].get("model")}
    if outputs:
        out["output"] = {**(out.get("output") or {}), "model": outputs[-1].get("model")}


def _readable_task(call: Call, task_id: str) -> dict:
    return lookups.readable_task(call.scope, task_id)


def _writable_task(call: Call, task_id: str) -> dict:
    return lookups.writable_task(call.scope, task_id)


def _task_to_change_status(call: Call) -> dict:
    """The status endpoints (started, stopped, failed, completed) answer an unknown task with 400/10
    InvalidId, as ClearML does, where the other task endpoints say 400/101."""
    task_id = call.data["task"]
    try:
        return call.scope.tasks.writable_task(task_id)
    except tasks_db.TaskNotFound:
        raise errors.InvalidId("task not found", id=task_id) from None
    except QueryError as exc:
        raise errors.from_database_error(exc) from None


REFERENCE_FIELDS = ("company", "user", "project", "parent")


def _query(call: Call, extended: bool) -> dict:
    data = dict(call.data)
    extra = {} if data.get("search_hidden") or data.get("id") else {"system_tags": {"$ne": HIDDEN}}
    allow_public = bool(data.get("allow_public", True)) if extended else True
    joins: dict = {}
    if extended:
        data["only_fields"], joins = references.split_joins(data.get("only_fields"), REFERENCE_FIELDS)
    docs, scroll_id = call.scope.tasks.find_page(data, allow_public=allow_public, extra=extra)
    docs = [conform(call, d) for d in docs]
    if extended:
        docs = references.with_references(call, docs, REFERENCE_FIELDS, joins, parents=lambda scope: scope.tasks)
    reply = {"tasks": docs}
    if scroll_id is not None or "scroll_id" in call.data:
        reply["scroll_id"] = scroll_id
    return reply


@handles("tasks.get_all")
def get_all(call: Call) -> dict:
    return _query(call, extended=False)


@handles("tasks.get_all_ex")
def get_all_ex(call: Call) -> dict:
    return _query(call, extended=True)


@handles("tasks.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"task": render(call, _readable_task(call, call.data["task"]), complete=True)}


# --- create / validate / edit ----------------------------------------------------------------------


def _check_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if len(name) < MIN_NAME:
        raise errors.DataValidationError(f"task name must have at least {MIN_NAME} characters", name=name)
    return name


def _check_type(task_type) -> str:
    if task_type not in TASK_TYPES:
        raise errors.ValidationError(
            f"error for field 'type'. must be one of {', '.join(TASK_TYPES)}", type=task_type
        )
    return task_type


def _check_references(call: Call, fields: dict) -> None:
    """project and parent must exist (400/401, 400/101); input models must be readable (400/201)."""
    project = fields.get("project")
    if project and call.scope.projects.get(project, {"_id": 1}) is None:
        raise errors.InvalidProjectId(id=project)
    parent = fields.get("parent")
    if parent and call.scope.tasks.get(parent, {"_id": 1}) is None:
        raise errors.InvalidTaskId("invalid parent", parent=parent)
    inputs = [e["model"] for e in (fields.get("models") or {}).get("input") or [] if e.get("model")]
    live = [m for m in inputs if not m.startswith(tasks_db.DELETED_PREFIX)]
    if live:
        missing = sorted(set(live) - lookups.readable_model_ids(call.scope, live))
        if missing:
            raise errors.InvalidModelId(models=missing)


def _model_entries(kind: str, entries) -> list[dict]:
    """Request model entries ({name?, model}) in the stored form {name, model, updated}."""
    out = []
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("model"):
            out.append(tasks_db.model_entry(entry.get("name"), entry["model"], kind))
    return out


def _models_from_request(call: Call, data: dict, execution: dict | None, output: dict | None) -> dict | None:
    """The `models` section from a create/edit request; the legacy single-model fields below 2.13.

    Returns None when the request names no models (edit leaves them alone then)."""
    models: dict = {}
    requested = data.get("models")
    if isinstance(requested, dict):
        for kind in tasks_db.MODEL_KINDS:
            if kind in requested:
                models[kind] = _model_entries(kind, requested[kind])
    legacy_input = (execution or {}).pop("model", None)
    legacy_output = (output or {}).pop("model", None)
    if uses_legacy_models(call):
        if legacy_input:
            models["input"] = [tasks_db.model_entry(None, legacy_input, "input")]
        if legacy_output:
            models["output"] = [tasks_db.model_entry(None, legacy_output, "output")]
    return models or None


def _sections_from_request(call: Call, data: dict) -> dict:
    """The writable fields present (and not null) in a create/edit request, in the stored form."""
    fields = {k: copy.deepcopy(data[k]) for k in EDITABLE if data.get(k) is not None}
    if "name" in fields:
        fields["name"] = _check_name(fields["name"])
    if "type" in fields:
        fields["type"] = _check_type(fields["type"])
    for tag_field in ("tags", "system_tags"):
        if tag_field in fields:
            fields[tag_field] = sorted(set(fields[tag_field]))
    for section in DICT_SECTIONS:
        if section in fields and not isinstance(fields[section], dict):
            raise errors.ValidationError(f"error for field '{section}'. must be an object")
    if "hyperparams" in fields:
        fields["hyperparams"] = tasks_db.store_hyperparams(fields["hyperparams"])
    if "configuration" in fields:
        fields["configuration"] = tasks_db.store_configuration(fields["configuration"])
    if data.get("output_dest") is not None:
        fields["output"] = {**fields.get("output", {}), "destination": data["output_dest"]}
    models = _models_from_request(call, data, fields.get("execution"), fields.get("output"))
    fields.pop("models", None)
    if models is not None:
        fields["models"] = models
    return fields


def _new_task_doc(call: Call, data: dict, check_references: bool = True) -> dict:
    fields = _sections_from_request(call, data)
    fields["name"] = _check_name(data.get("name"))
    fields["type"] = _check_type(data.get("type"))
    if check_references:
        _check_references(call, fields)
    now = tasks_db.now()
    models = fields.pop("models", None) or {}
    doc = {
        "_id": tasks_db.new_id(),
        "user": call.identity.user,
        "status": CREATED,
        "status_reason": "",
        "status_message": "",
        "status_changed": now,
        "project": None,
        "parent": None,
        "comment": "",
        "tags": [],
        "system_tags": [],
        "created": now,
        "last_update": now,
        "last_change": now,
        "last_changed_by": call.identity.user,
        "last_iteration": 0,
        "last_metrics": {},
        **{section: {} for section in DICT_SECTIONS},
        **fields,
    }
    doc["models"] = {kind: models.get(kind, []) for kind in tasks_db.MODEL_KINDS}
    return doc


@handles("tasks.create")
def create(call: Call) -> dict:
    doc = _new_task_doc(call, call.data)
    call.scope.tasks.insert(doc)
    return {"id": doc["_id"]}


@handles("tasks.validate")
def validate(call: Call) -> dict:
    _new_task_doc(call, call.data)
    return {}


@handles("tasks.edit")
def edit(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
    if not data.get("force") and (task.get("status") or CREATED) != CREATED:
        raise errors.InvalidTaskStatus(task=task["_id"], expected=CREATED, status=task.get("status"))
    fields = _sections_from_request(call, data)
    if not fields:
        return {"updated": 0, "fields": {}}
    _check_references(call, fields)
    for section in MERGED_SECTIONS:
        if section in fields and isinstance(task.get(section), dict):
            fields[section] = {**task[section], **fields[section]}
    now = tasks_db.now()
    fields.update(last_update=now, last_change=now, last_changed_by=call.identity.user)
    call.scope.tasks.update_task(task["_id"], fields)
    return {"updated": 1, "fields": render_fields(call, fields)}


def render_fields(call: Call, fields: dict) -> dict:
    """Written fields as replies show them (parameter names unescaped, legacy model fields below 2.13)."""
    return conform(call, dict(fields))


# --- status changes ------------------------------------------------------------------------------


def _status_call(call: Call, new_status: str, extra: dict | None = None, unset: tuple[str, ...] = ()) -> dict:
    data = call.data
    task = _task_to_change_status(call)
    return task_status.change_status(
        call.scope.tasks, call.identity.user, task, new_status, force=bool(data.get("force")),
        status_reason=data.get("status_reason"), status_message=data.get("status_message"),
        extra=extra, unset=unset,
    )


@handles("tasks.started")
def started(call: Call) -> dict:
    task = _task_to_change_status(call)
    now = tasks_db.now()
    extra = {"started": min(task["started"], now) if task.get("started") else now}
    worker = call.headers.get("X-CLEARML-WORKER") or call.headers.get("X-TRAINS-WORKER")
    if worker:
        extra["last_worker"] = worker
    result = task_status.change_status(
        call.scope.tasks, call.identity.user, task, IN_PROGRESS, force=bool(call.data.get("force")),
        status_reason=call.data.get("status_reason"), status_message=call.data.get("status_message"), extra=extra,
    )
    return {**result, "started": result["updated"]}


@handles("tasks.stopped")
def stopped(call: Call) -> dict:
    return _status_call(call, task_status.STOPPED, {"completed": tasks_db.now()})


@handles("tasks.failed")
def failed(call: Call) -> dict:
    return _status_call(call, task_status.FAILED, {"completed": tasks_db.now()})


@handles("tasks.completed")
def completed(call: Call) -> dict:
    result = _status_call(call, task_status.COMPLETED, {"completed": tasks_db.now()})
    if call.data.get("publish"):
        published = publishing.publish_task(
            call.scope, call.identity.user, call.data["task"], force=bool(call.data.get("force")), publish_model=True,
            status_reason=call.data.get("status_reason"), status_message=call.data.get("status_message"),
        )
        result["published"] = published["data"]["updated"]
    return result


@handles("tasks.publish")
def publish(call: Call) -> dict:
    data = call.data
    return publishing.publish_task(
        call.scope, call.identity.user, data["task"], force=bool(data.get("force")),
        publish_model=data.get("publish_model", True), status_reason=data.get("status_reason"),
        status_message=data.get("status_message"),
    )["data"]


# --- output models of a task (reset / delete) ------------------------------------------------------


@handles("tasks.reset")
def reset(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
    force = bool(data.get("force"))
    task_status.check_transition(task, CREATED, force)
    removed = removal.remove_task_outputs(call.scope, call.stores, task,
                                          delete_drafts=data.get("delete_output_models", True), detach_ready=False,
                                          delete_files=data.get("delete_external_artifacts", True), keep_used=True)
    extra = {
        "last_iteration": 0,
        "last_metrics": {},
        "started": None,
        "completed": None,
        "published": None,
        "models.output": [],
        "runtime": {},
    }
    unset = ("output.result", "output.error", "execution.queue", "last_worker")
    if data.get("clear_all"):
        extra["execution"] = {}
        extra["script"] = {}
        unset = ("output.result", "output.error", "last_worker")
    result = task_status.change_status(
        call.scope.tasks, call.identity.user, task, CREATED, force=force, status_reason="reset",
        status_message="reset",
        extra=extra, unset=unset,
    )
    events_deleted = call.scope.events.delete_task_events(task["_id"])
    reply = {**result, "deleted_models": removed["deleted_models"], "updated_models": removed["updated_models"],
             "events": {"deleted": events_deleted}}
    if data.get("return_file_urls"):
        reply["urls"] = {"model_urls": removed["urls"], "event_urls": [], "artifact_urls": []}
    return reply


@handles("tasks.delete")
def delete(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
    force = bool(data.get("force"))
    status = task.get("status") or CREATED
    if not force and status != CREATED and ARCHIVED not in (task.get("system_tags") or []):
        raise errors.TaskCannotBeDeleted("due to status, use force=true", task=task["_id"], expected=CREATED,
                                         current=status)
    if not force:
        ready = [m for m in call.scope.models.created_by_task(task["_id"]) if m.get("ready")]
        if ready:
            raise errors.TaskCannotBeDeleted("has published output models, use force=true", task=task["_id"],
                                             models=len(ready))
    removed = removal.remove_task_outputs(call.scope, call.stores, task,
                                          delete_drafts=data.get("delete_output_models", True), detach_ready=True,
                                          delete_files=data.get("delete_external_artifacts", True))
    gone = removal.remove_task(call.scope, task["_id"])
    reply = {
        "deleted": bool(gone["deleted"]),
        "updated_children": gone["updated_children"],
        "updated_models": removed["updated_models"],
        "deleted_models": removed["deleted_models"],
        "events": {"deleted": gone["events"]},
    }
    if data.get("return_file_urls"):
        reply["urls"] = {"model_urls": removed["urls"], "event_urls": [], "artifact_urls": []}
    return reply


# --- clone / move / tags / models ----------------------------------------------------------------


# Not carried over to a copy: the run marker of the SDK and the archive mark.
CLONE_DROPPED_SYSTEM_TAGS = ("development", ARCHIVED)


@handles("tasks.clone")
def clone(call: Call) -> dict:
    data = call.data
    source = _readable_task(call, data["task"])
    shown = render(_modern(call), source)
    project, new_project = data.get("new_task_project"), None
    if not project and data.get("new_project_name"):
        project = call.scope.projects.ensure_project_path(call.identity.user, data["new_project_name"])
        new_project = {"id": project, "name": projects_db.normalize_name(data["new_project_name"])}
    execution = {k: v for k, v in shown["execution"].items() if k != "queue"}
    if isinstance(data.get("execution_overrides"), dict):
        execution.update(data["execution_overrides"])
    destination = shown["output"].get("destination")
    request = {
        "name": data.get("new_task_name") or source.get("name"),
        "type": source.get("type"),
        "comment": data.get("new_task_comment") or source.get("comment"),
        "parent": data.get("new_task_parent") or source.get("parent"),
        "project": project or source.get("project"),
        "tags": data.get("new_task_tags") or source.get("tags"),
        "system_tags": data.get("new_task_system_tags")
        or [t for t in source.get("system_tags") or [] if t not in CLONE_DROPPED_SYSTEM_TAGS],
        "execution": execution,
        "script": shown["script"],
        "hyperparams": data.get("new_task_hyperparams") or shown["hyperparams"],
        "configuration": data.get("new_task_configuration") or shown["configuration"],
        "container": data.get("new_task_container") or shown["container"],
        "models": {"input": data["new_task_input_models"] if data.get("new_task_input_models") is not None
                   else shown["models"]["input"]},
        "output": {"destination": destination} if destination else {},
    }
    doc = _new_task_doc(call, copy.deepcopy(request), check_references=False)
    # Like ClearML: what the caller names is always checked, what is copied only with validate_references.
    _check_references(call, doc if data.get("validate_references") else {
        "project": doc["project"] if data.get("new_task_project") else None,
        "parent": doc["parent"] if data.get("new_task_parent") else None,
        "models": doc["models"] if data.get("new_task_input_models") is not None else None,
    })
    call.scope.tasks.insert(doc)
    reply = {"id": doc["_id"]}
    if new_project:
        reply["new_project"] = new_project
    return reply


def _modern(call: Call) -> Call:
    """The call as a 2.13+ request: the `models` section without the legacy single-model fields."""
    return dataclasses.replace(call, requested_version=max(call.requested_version, (2, 13)))


@handles("tasks.move")
def move(call: Call) -> dict:
    data = call.data
    if "project" not in data and "project_name" not in data:
        raise errors.MissingRequiredFields("project or project_name is required", missing=("project", "project_name"))
    project_id = data.get("project")
    if project_id:
        lookups.writable_project(call.scope, project_id)
    elif data.get("project_name"):
        project_id = call.scope.projects.ensure_project_path(call.identity.user, data["project_name"])
    else:
        project_id = None
    call.scope.tasks.move_tasks(data["ids"], project_id, call.identity.user)
    return {"project_id": project_id}


@handles("tasks.update_tags")
def update_tags(call: Call) -> dict:
    data = call.data
    add, remove = data.get("add_tags") or [], data.get("remove_tags") or []
    if not add and not remove:
        raise errors.ValidationError("either add_tags or remove_tags must be given")
    updated = 0
    if add:
        updated += call.scope.tasks.change_tags(data["ids"], add, add=True)
    if remove:
        updated += call.scope.tasks.change_tags(data["ids"], remove, add=False)
    return {"updated": updated}


@handles("tasks.add_or_update_model")
def add_or_update_model(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
    kind = data["type"]
    if kind not in tasks_db.MODEL_KINDS:
        raise errors.ValidationError("error for field 'type'. must be input or output", type=kind)
    if not data["model"].startswith(tasks_db.DELETED_PREFIX):
        lookups.readable_model(call.scope, data["model"], {"_id": 1})  # no references to others' models
    updated = call.scope.tasks.add_or_update_model_entry(task["_id"], kind, data["name"], data["model"],
                                                         data.get("iteration"))
    return {"updated": updated}


@handles("tasks.delete_models")
def delete_models(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
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
    task = _writable_task(call, call.data["task"])
    call.scope.tasks.touch(task["_id"])
    return {}


@handles("tasks.set_requirements")
def set_requirements(call: Call) -> dict:
    task = _writable_task(call, call.data["task"])
    requirements = call.data["requirements"]
    now = tasks_db.now()
    call.scope.tasks.update_task(task["_id"], {"script.requirements": requirements, "last_update": now,
                                               "last_change": now, "last_changed_by": call.identity.user})
    return {"updated": 1, "fields": {"script.requirements": requirements}}
