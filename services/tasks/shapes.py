"""How tasks look at each API version and how create/edit requests become stored task documents.

Shared by the tasks handler modules (services/tasks/crud.py, services/tasks/lifecycle.py).
"""

from __future__ import annotations

import copy

from database import clock, ids
from database.collections import tasks_db
from services import errors
from services.call import Call, Version
from services.shared import legacy_tags, lookups
from services.tasks.status import CREATED

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
LEGACY_MODELS_BELOW: Version = (2, 13)


# --- reading and rendering -----------------------------------------------------------------------


def uses_legacy_models(call: Call) -> bool:
    """Requests below 2.13 send and get `execution.model` / `output.model` instead of `models`."""
    return call.requested_version < LEGACY_MODELS_BELOW


def render(call: Call, doc: dict, complete: bool = False) -> dict:
    """The API form of a stored task. `complete` fills every section the SDK reads (get_by_id)."""
    return conform(call, {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}, complete)


def conform(call: Call, out: dict, complete: bool = False) -> dict:
    """A task in API shape (`id`), as the requested version shows it."""
    for tag_field in ("tags", "system_tags"):
        if tag_field in out:
            out[tag_field] = sorted(out[tag_field] or [])
    legacy_tags.merge_reply_tags(call, out)
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


# --- request fields -------------------------------------------------------------------------------


def check_name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if len(name) < MIN_NAME:
        raise errors.DataValidationError(f"task name must have at least {MIN_NAME} characters", name=name)
    return name


def check_type(task_type) -> str:
    if task_type not in TASK_TYPES:
        raise errors.ValidationError(
            f"error for field 'type'. must be one of {', '.join(TASK_TYPES)}", type=task_type
        )
    return task_type


def check_references(call: Call, fields: dict, deleted_are_missing: bool = False) -> None:
    """project and parent must exist (400/401, 400/101); input models must be readable (400/201).
    A reference to a deleted model (`__DELETED__<id>`) passes unless `deleted_are_missing`."""
    project = fields.get("project")
    if project and call.scope.projects.get(project, {"_id": 1}) is None:
        raise errors.InvalidProjectId(id=project)
    parent = fields.get("parent")
    if parent and call.scope.tasks.get(parent, {"_id": 1}) is None:
        raise errors.InvalidTaskId("invalid parent", parent=parent)
    inputs = [e["model"] for e in (fields.get("models") or {}).get("input") or [] if e.get("model")]
    live = [m for m in inputs if not m.startswith(tasks_db.DELETED_PREFIX)]
    if deleted_are_missing and len(live) < len(inputs):
        raise errors.InvalidModelId(models=sorted(set(inputs) - set(live)))
    if live:
        missing = sorted(set(live) - lookups.readable_model_ids(call.scope, live))
        if missing:
            raise errors.InvalidModelId(models=missing)


def model_entries(kind: str, entries) -> list[dict]:
    """Request model entries ({name?, model}) in the stored form {name, model, updated}."""
    out = []
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("model"):
            out.append(tasks_db.model_entry(entry.get("name"), entry["model"], kind))
    return out


def models_from_request(call: Call, data: dict, execution: dict | None, output: dict | None) -> dict | None:
    """The `models` section from a create/edit request; the legacy single-model fields below 2.13.

    Returns None when the request names no models (edit leaves them alone then)."""
    models: dict = {}
    requested = data.get("models")
    if isinstance(requested, dict):
        for kind in tasks_db.MODEL_KINDS:
            if kind in requested:
                models[kind] = model_entries(kind, requested[kind])
    legacy_input = (execution or {}).pop("model", None)
    legacy_output = (output or {}).pop("model", None)
    if uses_legacy_models(call):
        if legacy_input:
            models["input"] = [tasks_db.model_entry(None, legacy_input, "input")]
        if legacy_output:
            models["output"] = [tasks_db.model_entry(None, legacy_output, "output")]
    return models or None


def sections_from_request(call: Call, data: dict) -> dict:
    """The writable fields present (and not null) in a create/edit request, in the stored form."""
    fields = {k: copy.deepcopy(data[k]) for k in EDITABLE if data.get(k) is not None}
    if "tags" in fields:
        legacy_tags.split_written_tags(call, fields, legacy_tags.TASK_SYSTEM_TAGS)
        fields.setdefault("tags", [])
    if "name" in fields:
        fields["name"] = check_name(fields["name"])
    if "type" in fields:
        fields["type"] = check_type(fields["type"])
    for tag_field in ("tags", "system_tags"):
        if tag_field in fields:
            fields[tag_field] = sorted(set(fields[tag_field]))
    for section in DICT_SECTIONS:
        if section in fields and not isinstance(fields[section], dict):
            raise errors.ValidationError(f"error for field '{section}'. must be an object")
    if isinstance((fields.get("execution") or {}).get("artifacts"), list):
        fields["execution"]["artifacts"] = normalized_artifacts(fields["execution"]["artifacts"])
    if "hyperparams" in fields:
        fields["hyperparams"] = tasks_db.store_hyperparams(fields["hyperparams"])
    if "configuration" in fields:
        fields["configuration"] = tasks_db.store_configuration(fields["configuration"])
    if data.get("output_dest") is not None:
        fields["output"] = {**fields.get("output", {}), "destination": data["output_dest"]}
    models = models_from_request(call, data, fields.get("execution"), fields.get("output"))
    fields.pop("models", None)
    if models is not None:
        fields["models"] = models
    return fields


def normalized_artifacts(artifacts: list) -> list[dict]:
    """ClearML keeps one artifact per key + mode (mode `output` unless given; the last one sent wins),
    listed by key."""
    by_id: dict[tuple, dict] = {}
    for item in artifacts:
        if isinstance(item, dict):
            item = {**item, "mode": item.get("mode") or "output"}
            by_id[(item.get("key") or "", item["mode"])] = item
    return [by_id[k] for k in sorted(by_id)]


def new_task_doc(call: Call, data: dict, checked: bool = True) -> dict:
    """A complete task document from a create-like request; `checked` also checks its references."""
    fields = sections_from_request(call, data)
    fields["name"] = check_name(data.get("name"))
    fields["type"] = check_type(data.get("type"))
    if checked:
        check_references(call, fields)
    now = clock.now()
    models = fields.pop("models", None) or {}
    doc = {
        "_id": ids.new_id(),
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


def render_fields(call: Call, fields: dict) -> dict:
    """Written fields as replies show them (parameter names unescaped, legacy model fields below 2.13)."""
    return conform(call, dict(fields))

