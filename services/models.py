"""models.*: the ClearML models service (protocol notes §7).

Reads see the caller's own models and public ones; writes touch own models only (400/201 otherwise).
"""

from __future__ import annotations

from datetime import datetime

from database import models_db, tasks_db
from services import errors, references
from services.call import Call
from services.handlers import handles
from services.task_status import PUBLISHED
from services.workflows import lookups, publishing, removal, task_outputs

LEGACY_MAX = (2, 13)  # get_by_task_id / update_for_task are served up to this version
OP_PREFIX = "__$"
SYSTEM_TAGS = frozenset({models_db.ARCHIVED})
# Fields whose change moves last_update (not only last_change).
CONTENT_FIELDS = frozenset({"uri", "framework", "design", "labels", "ready", "metadata", "system_tags", "tags"})
EDIT_FIELDS = ("name", "uri", "comment", "tags", "system_tags", "framework", "design", "labels", "ready",
               "project", "parent", "task", "ui_cache", "metadata")
CREATE_FIELDS = EDIT_FIELDS
UPDATE_FIELDS = ("name", "comment", "tags", "system_tags", "uri", "ui_cache", "metadata", "project", "created")


# --- version-dependent shapes --------------------------------------------------------------------


def _conform_output(call: Call, docs: list[dict]) -> list[dict]:
    """Below 2.3 system tags are merged into tags; up to 2.16 metadata is shown as []."""
    old_tags = call.requested_version < (2, 3)
    no_metadata = call.requested_version <= (2, 16)
    for doc in docs:
        if old_tags and doc.get("system_tags"):
            doc["tags"] = sorted(set(doc.get("tags") or []) | set(doc["system_tags"]))
        if no_metadata and "metadata" in doc:
            doc["metadata"] = []
    return docs


def _conform_tags_input(call: Call, fields: dict) -> None:
    """Refuses the query-operator prefix in tags; below 2.3 moves system tags sent in `tags` to system_tags."""
    for key in ("tags", "system_tags"):
        bad = [t for t in fields.get(key) or () if t.startswith(OP_PREFIX)]
        if bad:
            raise errors.FieldsValueError("unsupported tag prefix", values=bad)
    if call.requested_version < (2, 3) and fields.get("tags") is not None and not fields.get("system_tags"):
        tags = fields["tags"]
        system = [t for t in tags if t in SYSTEM_TAGS]
        if system:
            fields["tags"] = [t for t in tags if t not in SYSTEM_TAGS]
            fields["system_tags"] = system


def _not_supported_above_legacy(call: Call) -> None:
    if call.requested_version > LEGACY_MAX:
        raise errors.NotSupported("use tasks.add_or_update_model", endpoint=call.endpoint)


# --- lookups -------------------------------------------------------------------------------------


def _readable_model(call: Call, model_id: str) -> dict:
    return lookups.readable_model(call.scope, model_id)


def _writable_model(call: Call, model_id: str) -> dict:
    return lookups.writable_model(call.scope, model_id)


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


# --- field preparation ---------------------------------------------------------------------------


def _fields_from(call: Call, names) -> dict:
    """The listed request fields that were sent with a non-null value."""
    return {k: call.data[k] for k in names if call.data.get(k) is not None}


def _prepare_write(call: Call, fields: dict) -> dict:
    """Shared by create, edit and update: tags, labels, metadata and the ui_cache reset."""
    _conform_tags_input(call, fields)
    if "uri" in fields and "ui_cache" not in fields:
        fields["ui_cache"] = {}  # a new uri means the cached UI data describes old weights
    if "labels" in fields:
        bad = [k for k, v in fields["labels"].items() if not isinstance(v, int) or isinstance(v, bool)]
        if bad:
            raise errors.ValidationError("labels values must be integers", keys=bad)
    if "metadata" in fields:
        fields["metadata"] = models_db.metadata_map(fields["metadata"])
    return fields


def _content_changed(fields: dict) -> bool:
    return any(f in CONTENT_FIELDS for f in fields)


def _reply_fields(call: Call, written: dict) -> dict:
    out = dict(written)
    if "metadata" in out:
        out["metadata"] = models_db.unescape_metadata(out["metadata"])
    _conform_output(call, [out])
    return out


def _bump_iteration(call: Call, task_id: str | None) -> None:
    iteration = call.data.get("iteration")
    if task_id and iteration is not None:
        call.scope.tasks.bump_last_iteration(task_id, iteration)


# --- reads ---------------------------------------------------------------------------------------


def _render(call: Call, doc: dict) -> dict:
    return _conform_output(call, [models_db.to_api(doc)])[0]


@handles("models.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"model": _render(call, _readable_model(call, call.data["model"]))}


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
    return {"model": _render(call, _readable_model(call, model_id))}


def _query(call: Call, *, extended: bool) -> dict:
    data = call.data
    joins: dict = {}
    if extended:
        only_fields, joins = references.split_joins(data.get("only_fields"), models_db.REFERENCE_FIELDS)
        if only_fields is not None:
            data = {**data, "only_fields": only_fields}
    docs, scroll_id = call.scope.models.find_page(
        data, allow_public=bool(data.get("allow_public", True)) if extended else True)
    if extended:
        docs = references.with_references(call, docs, models_db.REFERENCE_FIELDS, joins)
        if data.get("include_stats"):
            counts = call.scope.models.labels_counts([d["id"] for d in docs])
            for doc in docs:
                doc["stats"] = {"labels_count": counts.get(doc["id"], 0)}
    result = {"models": _conform_output(call, docs)}
    if scroll_id is not None:
        result["scroll_id"] = scroll_id
    return result


@handles("models.get_all")
def get_all(call: Call) -> dict:
    return _query(call, extended=False)


@handles("models.get_all_ex")
def get_all_ex(call: Call) -> dict:
    return _query(call, extended=True)


@handles("models.get_by_id_ex")
def get_by_id_ex(call: Call) -> dict:
    if "id" not in call.data:
        raise errors.MissingRequiredFields(missing=["id"])
    return {"models": _query(call, extended=True)["models"]}


@handles("models.get_frameworks")
def get_frameworks(call: Call) -> dict:
    projects = call.data.get("projects") or None
    if projects:
        projects = call.scope.projects.with_descendants(projects)
    return {"frameworks": call.scope.models.frameworks(projects)}


# --- create / edit / update ----------------------------------------------------------------------


@handles("models.create")
def create(call: Call) -> dict:
    fields = _prepare_write(call, _fields_from(call, CREATE_FIELDS))
    if fields.get("project"):
        _check_project_for_create(call, fields["project"])
    if fields.get("parent") and call.scope.models.get(fields["parent"], {"_id": 1}) is None:
        raise errors.FieldsValueError("invalid parent model id", parent=fields["parent"])
    if fields.get("task"):
        lookups.writable_task(call.scope, fields["task"])
    doc = models_db.new_model_doc(call.identity.user, fields)
    call.scope.models.insert(doc, public=bool(call.data.get("public")))
    return {"id": doc["_id"], "created": True}


@handles("models.edit")
def edit(call: Call) -> dict:
    model = _writable_model(call, call.data["model"])
    fields = _prepare_write(call, _fields_from(call, EDIT_FIELDS))
    _check_references(call, fields)
    _bump_iteration(call, model.get("task") or fields.get("task"))
    if not fields:
        return {"updated": 0, "fields": {}}
    written = call.scope.models.update_fields(model["_id"], fields, call.identity.user,
                                              content_changed=_content_changed(fields))
    return {"updated": 1 if written else 0, "fields": _reply_fields(call, written)}


def _parse_created(value) -> datetime:
    try:
        created = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.ValidationError("error for field 'created'. not an ISO 8601 date-time", created=value) from None
    return created if created.tzinfo else created.replace(tzinfo=models_db.now().tzinfo)


def _update_model(call: Call, model_id: str, extra: dict | None = None) -> dict:
    """models.update, also used by update_for_task on an existing output model."""
    model = _writable_model(call, model_id)
    data = {**call.data, **(extra or {})}
    if data.get("task"):
        lookups.writable_task(call.scope, data["task"])
    fields = _prepare_write(call, {k: data[k] for k in UPDATE_FIELDS if data.get(k) is not None})
    if "created" in fields:
        fields["created"] = _parse_created(fields["created"])
    _check_references(call, {"project": fields.get("project")})
    _bump_iteration(call, data.get("task"))
    if not fields:
        return {"updated": 0, "fields": {}}
    written = call.scope.models.update_fields(model["_id"], fields, call.identity.user,
                                              content_changed=_content_changed(fields))
    return {"updated": 1 if written else 0, "fields": _reply_fields(call, written)}


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
        model_id = _writable_model(call, data["override_model_id"])["_id"]
    else:
        from_task = task_outputs.model_fields_from_task(task)
        named = {
            "name": data.get("name") or from_task["name"],
            "comment": data["comment"] if data.get("comment") is not None else from_task["comment"],
        }
        existing = tasks_db.output_model_id(task)
        if existing:
            return {**_update_model(call, existing, named), "id": existing, "created": False}
        fields = _prepare_write(call, {
            **from_task, **named, "uri": data["uri"],
            "tags": data.get("tags") or [], "system_tags": data.get("system_tags") or [],
        })
        doc = call.scope.models.insert(models_db.new_model_doc(call.identity.user, fields))
        model_id = doc["_id"]
    task_outputs.link_output_model(call.scope, task_id, model_id)
    _bump_iteration(call, task_id)
    return {"id": model_id, "created": True}


# --- publishing ----------------------------------------------------------------------------------


@handles("models.set_ready")
def set_ready(call: Call) -> dict:
    updated, published_task = publishing.publish_model(
        call.scope, call.identity.user, call.data["model"], call.data.get("publish_task", True),
        call.data.get("force_publish_task", False))
    result = {"updated": updated, "fields": {}}
    if published_task:
        result["published_task"] = published_task
    return result


def _batch(ids: list[str], operation) -> dict:
    """Runs `operation(id) -> dict` per id; API errors become `failed` items, anything else propagates."""
    succeeded, failed = [], []
    for model_id in dict.fromkeys(ids):
        try:
            succeeded.append({"id": model_id, **operation(model_id)})
        except errors.ApiError as exc:
            failed.append({"id": model_id, "error": exc.as_dict()})
    return {"succeeded": succeeded, "failed": failed}


@handles("models.publish_many")
def publish_many(call: Call) -> dict:
    publish_task = call.data.get("publish_task", True)
    force = call.data.get("force_publish_task", False)

    def publish(model_id: str) -> dict:
        updated, published_task = publishing.publish_model(call.scope, call.identity.user, model_id,
                                                           publish_task, force)
        return {"updated": bool(updated), "published_task": published_task}

    return _batch(call.data["ids"], publish)


def _set_archived(call: Call, archived: bool):
    change = call.scope.models.add_tags if archived else call.scope.models.remove_tags

    def operation(model_id: str) -> dict:
        _writable_model(call, model_id)
        changed = change([model_id], "system_tags", [models_db.ARCHIVED], call.identity.user)
        return {"archived" if archived else "unarchived": bool(changed)}

    return operation


@handles("models.archive_many")
def archive_many(call: Call) -> dict:
    return _batch(call.data["ids"], _set_archived(call, True))


@handles("models.unarchive_many")
def unarchive_many(call: Call) -> dict:
    return _batch(call.data["ids"], _set_archived(call, False))


# --- delete --------------------------------------------------------------------------------------


def _delete_model(call: Call, model_id: str, force: bool, delete_artifacts: bool) -> tuple[bool, str]:
    model = _deletable_model(call, model_id)
    users = call.scope.tasks.count_using_model_as_input(model_id)
    if users and not force:
        raise errors.ModelInUse("as execution model, use force=True to delete", num_tasks=users)
    task_id = model.get("task")
    if task_id and not force:
        task = call.scope.tasks.get(task_id, {"status": 1})
        if task is not None and task.get("status") == PUBLISHED:
            raise errors.ModelCreatingTaskExists("and published, use force=True to delete", task=task_id)
    deleted = removal.remove_model(call.scope, call.stores, model, delete_artifacts)
    return deleted, model.get("uri")


def _deletable_model(call: Call, model_id: str) -> dict:
    """An own model, or a public one the caller's company shared when the caller is an admin or the
    user who registered it (a shared model can be taken back by its owner)."""
    model = lookups.owned_model(call.scope, model_id)
    if model.get("company") != call.company and not (call.identity.is_admin or model.get("user") == call.identity.user):
        raise errors.InvalidModelId(company=call.company, model=model_id)
    return model


@handles("models.delete")
def delete(call: Call) -> dict:
    deleted, url = _delete_model(call, call.data["model"], call.data.get("force", False),
                                 call.data.get("delete_external_artifacts", True))
    result = {"deleted": deleted}
    if call.version_at_least("2.13"):
        result["url"] = url
    return result


@handles("models.delete_many")
def delete_many(call: Call) -> dict:
    force = call.data.get("force", False)
    artifacts = call.data.get("delete_external_artifacts", True)

    def remove(model_id: str) -> dict:
        deleted, url = _delete_model(call, model_id, force, artifacts)
        return {"deleted": deleted, "url": url}

    return _batch(call.data["ids"], remove)


# --- sharing, moving, tags, metadata -------------------------------------------------------------


@handles("models.make_public")
def make_public(call: Call) -> dict:
    ids = call.data["ids"]
    missing = sorted(set(ids) - call.scope.models.writable_ids(ids))
    if missing:
        raise errors.InvalidModelId(ids=missing)
    return {"updated": call.scope.models.make_public(ids)}


@handles("models.make_private")
def make_private(call: Call) -> dict:
    ids = call.data["ids"]
    missing = sorted(set(ids) - call.scope.models.shared_ids(ids))
    if missing:
        raise errors.InvalidModelId(ids=missing)
    return {"updated": call.scope.models.make_private(ids)}


@handles("models.move")
def move(call: Call) -> dict:
    data = call.data
    if "project" not in data and "project_name" not in data:
        raise errors.MissingRequiredFields("project or project_name is required")
    project_id = data.get("project")
    if project_id:
        lookups.writable_project(call.scope, project_id)
    elif data.get("project_name"):
        project_id = call.scope.projects.ensure_project_path(call.identity.user, data["project_name"])
    else:
        project_id = None
    call.scope.models.move(data["ids"], project_id, call.identity.user)
    return {"project_id": project_id}


@handles("models.update_tags")
def update_tags(call: Call) -> dict:
    add, remove = call.data.get("add_tags"), call.data.get("remove_tags")
    if not (add or remove):
        raise errors.ValidationError("Either add_tags or remove_tags should be provided")
    _conform_tags_input(call, {"tags": list(add or []) + list(remove or [])})
    ids, user = call.data["ids"], call.identity.user
    updated = 0
    if add:
        updated += call.scope.models.add_tags(ids, "tags", add, user)
    if remove:
        updated += call.scope.models.remove_tags(ids, "tags", remove, user)
    return {"updated": updated}


@handles("models.add_or_update_metadata")
def add_or_update_metadata(call: Call) -> dict:
    model = _writable_model(call, call.data["model"])
    entries = models_db.metadata_map(call.data["metadata"])
    updated = call.scope.models.set_metadata(model["_id"], entries, bool(call.data.get("replace_metadata")),
                                             call.identity.user)
    return {"updated": updated}


@handles("models.delete_metadata")
def delete_metadata(call: Call) -> dict:
    model = _writable_model(call, call.data["model"])
    updated = call.scope.models.delete_metadata(model["_id"], call.data["keys"], call.identity.user)
    return {"updated": updated}
