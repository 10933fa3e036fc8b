"""models.*, part one: reading, creating and changing models (the ClearML models service, protocol
notes §7). Lifecycle endpoints (publish, archive, delete, share, move, tags) are in model_lifecycle.py.

Reads see the caller's own models and public ones; writes touch own models only (400/201 otherwise).
"""

from __future__ import annotations

from database.collections import models_db, tasks_db
from database.query import engine
from services import errors
from services.call import EXTENSIONS_FROM, Call
from services.handlers import handles
from services.models import shapes, task_outputs, versioning
from services.shared import legacy_tags, listing, lookups

LEGACY_MAX = (2, 13)  # get_by_task_id / update_for_task are served up to this version


def _not_supported_above_legacy(call: Call) -> None:
    if call.requested_version > LEGACY_MAX:
        raise errors.NotSupported("use tasks.add_or_update_model", endpoint=call.endpoint)


# --- lookups -------------------------------------------------------------------------------------


def _check_project_for_create(call: Call, project_id: str) -> None:
    if call.scope.projects.get(project_id, {"_id": 1}) is None:
        raise errors.ValidationError("Invalid project ids", project=project_id)


def _check_references(call: Call, fields: dict, *, project_error=errors.FieldsValueError) -> None:
    """project and parent must be readable by the caller (400/16); task must be own (400/101, 403/21)."""
    project = fields.get("project")
    if project and call.scope.projects.get(project, {"_id": 1}) is None:
        raise project_error("invalid project id", project=project)
    parent = fields.get("parent")
    if parent and call.scope.models.get(parent, {"_id": 1}) is None:
        raise errors.FieldsValueError("invalid parent model id", parent=parent)
    if fields.get("task"):
        lookups.writable_task(call.scope, fields["task"])


def _bump_iteration(call: Call, task_id: str | None) -> None:
    iteration = call.data.get("iteration")
    if task_id and iteration is not None:
        call.scope.tasks.bump_last_iteration(task_id, iteration)


# --- reads ---------------------------------------------------------------------------------------


@handles("models.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"model": shapes.render(call, lookups.readable_model(call.scope, call.data["model"]))}


@handles("models.get_by_task_id")
def get_by_task_id(call: Call) -> dict:
    _not_supported_above_legacy(call)
    task_id = call.data["task"]
    task = call.scope.tasks.get(task_id, {"models": 1}, allow_public=False)
    if task is None:
        raise errors.InvalidTaskId(id=task_id, company=call.company)
    model_id = tasks_db.output_model_id(task)
    if not model_id:
        raise errors.MissingTaskFields(field="models.output", task=task_id)
    return {"model": shapes.render(call, lookups.readable_model(call.scope, model_id))}


def _prepare(call: Call, data: dict, extended: bool) -> None:
    if "aliases" in data and call.requested_version < EXTENSIONS_FROM:
        data.pop("aliases")  # the alias filter is a 2.99 extension


def _labels_counts(call: Call, data: dict, docs: list[dict]) -> None:
    if data.get("include_stats"):
        counts = call.scope.models.labels_counts([d["id"] for d in docs])
        for doc in docs:
            doc["stats"] = {"labels_count": counts.get(doc["id"], 0)}


LISTING = listing.register("models", listing.Listing(
    reply_key="models",
    scoped=lambda scope: scope.models,
    system_tags=legacy_tags.MODEL_SYSTEM_TAGS,
    reference_fields=models_db.REFERENCE_FIELDS,
    prepare=_prepare,
    shape=shapes.conform_output,
    extend=_labels_counts,
))


@handles("models.get_all")
def get_all(call: Call) -> dict:
    return listing.page(call, LISTING, extended=False)


@handles("models.get_all_ex")
def get_all_ex(call: Call) -> dict:
    return listing.page(call, LISTING, extended=True)


@handles("models.get_by_id_ex")
def get_by_id_ex(call: Call) -> dict:
    if "id" not in call.data:
        raise errors.MissingRequiredFields(missing=["id"])
    return {"models": listing.page(call, LISTING, extended=True)["models"]}


@handles("models.get_frameworks")
def get_frameworks(call: Call) -> dict:
    projects = call.data.get("projects") or None
    if projects:
        projects = call.scope.projects.with_descendants(projects)
    return {"frameworks": call.scope.models.frameworks(projects)}


# --- create / edit / update ----------------------------------------------------------------------


@handles("models.create")
def create(call: Call) -> dict:
    if call.data.get("ready", False) is None:  # ClearML's request model lets it through, its data layer does not
        raise errors.DataValidationError("ready: field is required", ready=None)
    names = shapes.with_extensions(call, shapes.CREATE_FIELDS)
    fields = shapes.prepare_write(call, shapes.fields_from(call, names))
    if fields.get("project"):
        _check_project_for_create(call, fields["project"])
    if fields.get("parent") and call.scope.models.get(fields["parent"], {"_id": 1}) is None:
        raise errors.FieldsValueError("invalid parent model id", parent=fields["parent"])
    if fields.get("task"):
        lookups.writable_task(call.scope, fields["task"])
    versioning.assign_version(call.scope, fields)
    doc = models_db.new_model_doc(call.identity.user, fields)
    call.scope.models.insert(doc, public=bool(call.data.get("public")))
    reply = {"id": doc["_id"], "created": True}
    if call.requested_version >= EXTENSIONS_FROM:
        reply["version"] = doc["version"]  # the version number is a 2.99 field of the reply
    return reply


@handles("models.edit")
def edit(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    names = shapes.with_extensions(call, shapes.EDIT_FIELDS)
    fields = shapes.prepare_write(call, shapes.fields_from(call, names))
    _check_references(call, fields)
    _bump_iteration(call, model.get("task") or fields.get("task"))
    return _write(call, model, fields)


def _write(call: Call, model: dict, fields: dict) -> dict:
    """The common end of edit and update: the prepared fields written, the registered model regrouped
    when the name or project changed, and the reply."""
    if not fields:
        return {"updated": 0, "fields": {}}
    versioning.check_change(call.scope, model, fields)
    written = call.scope.models.update_fields(model["_id"], fields, call.identity.user,
                                              content_changed=shapes.content_changed(fields))
    if written:
        written.update(versioning.regroup(call.scope, model, fields, call.identity.user))
    return {"updated": 1 if written else 0, "fields": shapes.reply_fields(call, written)}


def _update_model(call: Call, model_id: str, extra: dict | None = None) -> dict:
    """models.update, also used by update_for_task on an existing output model."""
    model = lookups.writable_model(call.scope, model_id)
    data = {**call.data, **(extra or {})}
    if data.get("task"):
        lookups.writable_task(call.scope, data["task"])
    sent = {k: data[k] for k in shapes.UPDATE_FIELDS if data.get(k) is not None}
    fields = shapes.prepare_write(call, sent)
    if "created" in fields:
        fields["created"] = engine.parse_datetime(str(fields["created"]), "created")
    _check_references(call, {"project": fields.get("project")})
    _bump_iteration(call, data.get("task"))
    return _write(call, model, fields)


@handles("models.update")
def update(call: Call) -> dict:
    return _update_model(call, call.data["model"])


@handles("models.update_for_task")
def update_for_task(call: Call) -> dict:
    _not_supported_above_legacy(call)
    data = call.data
    task_id = data["task"]
    if bool(data.get("uri")) == bool(data.get("override_model_id")):
        raise errors.MissingRequiredFields("exactly one field is required", fields=["uri", "override_model_id"])
    task = task_outputs.task_for_model_update(call.scope, task_id)
    if data.get("override_model_id"):
        model_id = lookups.writable_model(call.scope, data["override_model_id"])["_id"]
    else:
        from_task = task_outputs.model_fields_from_task(task)
        named = {
            "name": data.get("name") or from_task["name"],
            "comment": data["comment"] if data.get("comment") is not None else from_task["comment"],
        }
        existing = tasks_db.output_model_id(task)
        if existing:
            return {**_update_model(call, existing, named), "id": existing, "created": False}
        fields = shapes.prepare_write(call, {
            **from_task, **named, "uri": data["uri"],
            "tags": data.get("tags") or [], "system_tags": data.get("system_tags") or [],
        })
        versioning.assign_version(call.scope, fields)
        doc = call.scope.models.insert(models_db.new_model_doc(call.identity.user, fields))
        model_id = doc["_id"]
    task_outputs.link_output_model(call.scope, task_id, model_id)
    _bump_iteration(call, task_id)
    return {"id": model_id, "created": True}


# --- metadata ------------------------------------------------------------------------------------


@handles("models.add_or_update_metadata")
def add_or_update_metadata(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    entries = models_db.metadata_map(call.data["metadata"])
    updated = call.scope.models.set_metadata(model["_id"], entries, bool(call.data.get("replace_metadata")),
                                             call.identity.user)
    return {"updated": updated}


@handles("models.delete_metadata")
def delete_metadata(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    updated = call.scope.models.delete_metadata(model["_id"], call.data["keys"], call.identity.user)
    return {"updated": updated}
