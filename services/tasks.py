"""tasks.*: the runs that create and use models, as far as models and the ClearML SDK need them.

Also the helpers the models service calls: `publish_task` (models.set_ready / publish_many) and the
update_for_task helpers `task_for_model_update`, `model_fields_from_task`, `link_output_model`.
"""

from __future__ import annotations

import copy
import dataclasses

from database import events_db, models_db, projects_db, tasks_db
from database.errors import QueryError
from services import errors, references, task_status
from services import projects as projects_service
from services.call import Call, Identity
from services.handlers import handles
from services.model_files import delete_stored_file
from services.task_status import CREATED, IN_PROGRESS, PUBLISHED

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
    task = tasks_db.get_task(call.db, call.company, task_id)
    if task is None:
        raise errors.InvalidTaskId(id=task_id)
    return task


def own_task(call_or_stores, identity: Identity, task_id: str) -> dict:
    """The caller's own task: 400/101 when missing or another company's, 403/21 when public."""
    try:
        return tasks_db.get_writable_task(call_or_stores.db, identity.company, task_id)
    except QueryError as exc:
        raise errors.from_database_error(exc) from None


def _writable_task(call: Call, task_id: str) -> dict:
    return own_task(call, call.identity, task_id)


def _task_to_change_status(call: Call) -> dict:
    """The status endpoints (started, stopped, failed, completed) answer an unknown task with 400/10
    InvalidId, as ClearML does, where the other task endpoints say 400/101."""
    task_id = call.data["task"]
    try:
        return tasks_db.get_writable_task(call.db, call.company, task_id)
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
    docs, scroll_id = tasks_db.find_page(call.db, call.company, data, allow_public, extra,
                                         **projects_service.query_options(call))
    docs = [conform(call, d) for d in docs]
    if extended:
        docs = references.with_references(call, docs, REFERENCE_FIELDS, joins, parents=tasks_db.get_tasks)
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
    if project and projects_db.get_project(call.db, call.company, project) is None:
        raise errors.InvalidProjectId(id=project)
    parent = fields.get("parent")
    if parent and tasks_db.get_task(call.db, call.company, parent) is None:
        raise errors.InvalidTaskId("invalid parent", parent=parent)
    inputs = [e["model"] for e in (fields.get("models") or {}).get("input") or [] if e.get("model")]
    live = [m for m in inputs if not m.startswith(tasks_db.DELETED_PREFIX)]
    if live:
        found = {m["_id"] for m in _readable_models(call, live)}
        missing = sorted(set(live) - found)
        if missing:
            raise errors.InvalidModelId(models=missing)


def _readable_models(call: Call, ids: list[str]) -> list[dict]:
    return [m for m in (models_db.get(call.db, call.company, i, projection={"_id": 1}) for i in set(ids)) if m]


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
        "company": call.company,
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
    tasks_db.insert_task(call.db, doc)
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
    tasks_db.update_task(call.db, task["_id"], fields)
    return {"updated": 1, "fields": render_fields(call, fields)}


def render_fields(call: Call, fields: dict) -> dict:
    """Written fields as replies show them (parameter names unescaped, legacy model fields below 2.13)."""
    return conform(call, dict(fields))


# --- status changes ------------------------------------------------------------------------------


def _status_call(call: Call, new_status: str, extra: dict | None = None, unset: tuple[str, ...] = ()) -> dict:
    data = call.data
    task = _task_to_change_status(call)
    return task_status.change_status(
        call.db, call.identity, task, new_status, force=bool(data.get("force")),
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
        call.db, call.identity, task, IN_PROGRESS, force=bool(call.data.get("force")),
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
        published = publish_task(
            call, call.identity, call.data["task"], force=bool(call.data.get("force")), publish_model=True,
            status_reason=call.data.get("status_reason"), status_message=call.data.get("status_message"),
        )
        result["published"] = published["data"]["updated"]
    return result


def publish_task(call_or_stores, identity: Identity, task_id: str, force: bool = False,
                 publish_model: bool = False, status_reason: str | None = None,
                 status_message: str | None = None) -> dict:
    """Publishes a task: `{"id": task_id, "data": {"updated", "fields": {"status": "published", ...}}}`.

    Called by models.set_ready / models.publish_many (the `published_task` of their replies, with
    publish_model False: they mark their model ready themselves) and by tasks.publish/completed. An
    illegal move (for example from in_progress) raises 400/110 unless `force`; nothing is changed then.
    With `publish_model`, the task's output model (its last `models.output` entry) is marked ready.
    """
    db = call_or_stores.db
    task = own_task(call_or_stores, identity, task_id)
    task_status.check_transition(task, PUBLISHED, force)
    if publish_model:
        model_id = tasks_db.output_model_id(task)
        if model_id and not model_id.startswith(tasks_db.DELETED_PREFIX):
            models_db.set_ready(db, identity.company, model_id, identity.user)
    result = task_status.change_status(
        db, identity, task, PUBLISHED, force=force, status_reason=status_reason, status_message=status_message,
        extra={"published": tasks_db.now()},
    )
    return {"id": task_id, "data": result}


@handles("tasks.publish")
def publish(call: Call) -> dict:
    data = call.data
    return publish_task(
        call, call.identity, data["task"], force=bool(data.get("force")),
        publish_model=data.get("publish_model", True), status_reason=data.get("status_reason"),
        status_message=data.get("status_message"),
    )["data"]


# --- output models of a task (reset / delete) ------------------------------------------------------


def _remove_output_models(call: Call, task: dict, delete_drafts: bool, detach_ready: bool) -> dict:
    """Draft models the task created are deleted with their events and (unless the request says
    `delete_external_artifacts: false`) their stored files; ready ones optionally lose the task
    (`task: "__DELETED__<id>"`). Returns counts and the deleted models' URIs."""
    deleted, urls = 0, []
    for model in tasks_db.models_created_by(call.db, call.company, task["_id"]):
        if model.get("ready") or not delete_drafts:
            continue
        if models_db.delete(call.db, call.company, model["_id"]):
            deleted += 1
            tasks_db.replace_model_references(call.db, model["_id"])
            events_db.delete_task_events(call.db, model["_id"])
            if call.data.get("delete_external_artifacts", True):
                delete_stored_file(call.stores, model)
            if model.get("uri"):
                urls.append(model["uri"])
    updated = 0
    if detach_ready:
        updated = tasks_db.detach_models_from_task(call.db, call.company, task["_id"])
    return {"deleted_models": deleted, "updated_models": updated, "urls": urls}


@handles("tasks.reset")
def reset(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
    force = bool(data.get("force"))
    task_status.check_transition(task, CREATED, force)
    removed = _remove_output_models(call, task, delete_drafts=data.get("delete_output_models", True),
                                    detach_ready=False)
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
        call.db, call.identity, task, CREATED, force=force, status_reason="reset", status_message="reset",
        extra=extra, unset=unset,
    )
    events_deleted = events_db.delete_task_events(call.db, task["_id"])
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
        ready = [m for m in tasks_db.models_created_by(call.db, call.company, task["_id"]) if m.get("ready")]
        if ready:
            raise errors.TaskCannotBeDeleted("has published output models, use force=true", task=task["_id"],
                                             models=len(ready))
    removed = _remove_output_models(call, task, delete_drafts=data.get("delete_output_models", True),
                                    detach_ready=True)
    updated_children = tasks_db.detach_children(call.db, task["_id"])
    events_deleted = events_db.delete_task_events(call.db, task["_id"])
    deleted = tasks_db.delete_task(call.db, task["_id"])
    reply = {
        "deleted": bool(deleted),
        "updated_children": updated_children,
        "updated_models": removed["updated_models"],
        "deleted_models": removed["deleted_models"],
        "events": {"deleted": events_deleted},
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
        project = projects_db.ensure_project_path(call.db, call.company, call.identity.user, data["new_project_name"])
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
    tasks_db.insert_task(call.db, doc)
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
        if projects_db.get_project(call.db, call.company, project_id, allow_public=False) is None:
            raise errors.InvalidProjectId(id=project_id)
    elif data.get("project_name"):
        project_id = projects_db.ensure_project_path(call.db, call.company, call.identity.user, data["project_name"])
    else:
        project_id = None
    tasks_db.move_tasks(call.db, call.company, data["ids"], project_id, call.identity.user)
    return {"project_id": project_id}


@handles("tasks.update_tags")
def update_tags(call: Call) -> dict:
    data = call.data
    add, remove = data.get("add_tags") or [], data.get("remove_tags") or []
    if not add and not remove:
        raise errors.ValidationError("either add_tags or remove_tags must be given")
    updated = 0
    if add:
        updated += tasks_db.change_tags(call.db, call.company, data["ids"], add, add=True)
    if remove:
        updated += tasks_db.change_tags(call.db, call.company, data["ids"], remove, add=False)
    return {"updated": updated}


@handles("tasks.add_or_update_model")
def add_or_update_model(call: Call) -> dict:
    data = call.data
    task = _writable_task(call, data["task"])
    kind = data["type"]
    if kind not in tasks_db.MODEL_KINDS:
        raise errors.ValidationError("error for field 'type'. must be input or output", type=kind)
    updated = tasks_db.add_or_update_model_entry(call.db, task["_id"], kind, data["name"], data["model"],
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
        updated |= tasks_db.delete_model_entries(call.db, task["_id"], kind, names)
    return {"updated": updated}


@handles("tasks.ping")
def ping(call: Call) -> dict:
    task = _writable_task(call, call.data["task"])
    tasks_db.touch(call.db, task["_id"])
    return {}


@handles("tasks.set_requirements")
def set_requirements(call: Call) -> dict:
    task = _writable_task(call, call.data["task"])
    requirements = call.data["requirements"]
    now = tasks_db.now()
    tasks_db.update_task(call.db, task["_id"], {"script.requirements": requirements, "last_update": now,
                                                "last_change": now, "last_changed_by": call.identity.user})
    return {"updated": 1, "fields": {"script.requirements": requirements}}


# --- helpers for models.update_for_task ------------------------------------------------------------


def task_for_model_update(call_or_stores, identity: Identity, task_id: str) -> dict:
    """The task models.update_for_task writes to: own (400/101, 403/21) and created or in_progress
    (else 400/110). Called by services/models.py."""
    task = own_task(call_or_stores, identity, task_id)
    status = task.get("status") or CREATED
    if status not in (CREATED, IN_PROGRESS):
        raise errors.InvalidTaskStatus(
            "task must be created or in_progress", task=task_id, expected=(CREATED, IN_PROGRESS), status=status
        )
    return task


def model_fields_from_task(task: dict) -> dict:
    """The fields of a model models.update_for_task creates for `task` (called by services/models.py):
    name and comment defaults, project and framework of the task, design and labels from
    `execution.model_desc` / `execution.model_labels`, parent = first input model, ready = the task is
    published, task = the task id."""
    execution = task.get("execution") or {}
    inputs = tasks_db.input_model_ids(task)
    return {
        "name": task.get("name"),
        "comment": f"Created by task `{task.get('name')}` ({task['_id']})",
        "project": task.get("project"),
        "framework": execution.get("framework"),
        "design": execution.get("model_desc") or {},
        "labels": execution.get("model_labels") or {},
        "parent": inputs[0] if inputs else None,
        "ready": task.get("status") == PUBLISHED,
        "task": task["_id"],
    }


def link_output_model(call_or_stores, task_id: str, model_id: str, name: str | None = None) -> None:
    """Sets the task's output models to just this one (models.update_for_task; called by
    services/models.py)."""
    tasks_db.set_output_models(call_or_stores.db, task_id, [tasks_db.model_entry(name, model_id, "output")])
