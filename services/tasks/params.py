"""tasks.*, part three: what a run records besides models: artifacts (execution.artifacts),
configuration objects and hyper-parameters, read and edited one item at a time.

Like ClearML, these parts of a task are editable while it is `created`; `force` lets them change in
any other status (the SDK sends it when a running task uploads an artifact).
"""

from __future__ import annotations

from database import clock
from database.collections import tasks_db
from database.query import metadata_keys
from services import errors
from services.call import Call
from services.handlers import handles
from services.shared import lookups
from services.tasks.status import CREATED

# Two writers changing artifacts of one task each retry on the other's change at most this often.
ARTIFACT_WRITE_ATTEMPTS = 5
DEFAULT_MODE = "output"
PROPERTIES = "properties"


def _editable_task(call: Call, task_id: str, force: bool, any_status: bool = False) -> dict:
    task = lookups.writable_task(call.scope, task_id)
    status = task.get("status") or CREATED
    if status != CREATED and not force and not any_status:
        raise errors.InvalidTaskStatus(task=task_id, expected=CREATED, status=status)
    return task


def _stamp(call: Call) -> dict:
    now = clock.now()
    return {"last_update": now, "last_change": now, "last_changed_by": call.identity.user}


# --- artifacts -------------------------------------------------------------------------------------


def _artifact_id(item: dict) -> tuple[str, str]:
    return item.get("key"), item.get("mode") or DEFAULT_MODE


def _write_artifacts(call: Call, task: dict, change) -> int:
    """Applies `change(list) -> list | None` to the task's artifacts with a conditional update on the
    list read, so concurrent writers never drop each other's artifacts. 1 when the task changed."""
    for _ in range(ARTIFACT_WRITE_ATTEMPTS):
        current = (task.get("execution") or {}).get("artifacts")
        new = change(list(current or []))
        if new is None:
            return 0
        condition = {"execution.artifacts": current} if current is not None else {
            "execution.artifacts": {"$exists": False}}
        new = sorted(new, key=lambda a: (a.get("key") or "", a.get("mode") or DEFAULT_MODE))
        if call.scope.tasks.update_task(task["_id"], {"execution.artifacts": new, **_stamp(call)},
                                        condition=condition):
            return 1
        task = lookups.writable_task(call.scope, task["_id"])
    raise errors.ValidationError("the task's artifacts kept changing, try again", task=task["_id"])


@handles("tasks.add_or_update_artifacts")
def add_or_update_artifacts(call: Call) -> dict:
    data = call.data
    task = _editable_task(call, data["task"], bool(data.get("force")))
    given = {}
    for item in data["artifacts"]:
        item = {k: v for k, v in item.items() if v is not None}
        item.setdefault("mode", DEFAULT_MODE)
        given[_artifact_id(item)] = item

    def change(current: list[dict]) -> list[dict]:
        kept = [a for a in current if _artifact_id(a) not in given]
        return kept + list(given.values())

    return {"updated": _write_artifacts(call, task, change)}


@handles("tasks.delete_artifacts")
def delete_artifacts(call: Call) -> dict:
    data = call.data
    task = _editable_task(call, data["task"], bool(data.get("force")))
    gone = {_artifact_id(a) for a in data["artifacts"]}

    def change(current: list[dict]) -> list[dict] | None:
        kept = [a for a in current if _artifact_id(a) not in gone]
        return kept if len(kept) != len(current) else None

    return {"deleted": _write_artifacts(call, task, change)}


# --- configuration objects -------------------------------------------------------------------------


def _readable_tasks(call: Call, ids: list[str], projection: dict) -> list[dict]:
    """The readable ones of `ids` (ClearML leaves out unknown ids rather than failing)."""
    return call.scope.tasks.get_many(list(dict.fromkeys(ids)), projection)


@handles("tasks.get_configurations")
def get_configurations(call: Call) -> dict:
    names = set(call.data.get("names") or ())
    reply = []
    for task in _readable_tasks(call, call.data["tasks"], {"configuration": 1}):
        items = tasks_db.load_configuration(task.get("configuration") or {})
        chosen = [{"name": name, **item} for name, item in sorted(items.items()) if not names or name in names]
        reply.append({"task": task["_id"], "configuration": chosen})
    return {"configurations": reply}


@handles("tasks.edit_configuration")
def edit_configuration(call: Call) -> dict:
    data = call.data
    task = _editable_task(call, data["task"], bool(data.get("force")))
    items = {}
    for item in data["configuration"]:
        name = item.get("name")
        if not name:
            raise errors.ValidationError("error for field 'configuration.name'. field is required!")
        items[name] = {k: v for k, v in item.items() if v is not None}
    stored = tasks_db.store_configuration(items)
    if data.get("replace_configuration"):
        fields = {"configuration": stored}
    else:
        fields = {f"configuration.{key}": value for key, value in stored.items()}
    if not fields:
        return {"updated": 0}
    updated = call.scope.tasks.update_task(task["_id"], {**fields, **_stamp(call)})
    return {"updated": int(updated is not None)}


@handles("tasks.get_configuration_names")
def get_configuration_names(call: Call) -> dict:
    skip_empty = call.data.get("skip_empty", True)
    reply = []
    for task in _readable_tasks(call, call.data["tasks"], {"configuration": 1}):
        items = tasks_db.load_configuration(task.get("configuration") or {})
        names = sorted(n for n, item in items.items() if not skip_empty or (item or {}).get("value"))
        reply.append({"task": task["_id"], "names": names})
    return {"configurations": reply}


@handles("tasks.delete_configuration")
def delete_configuration(call: Call) -> dict:
    data = call.data
    task = _editable_task(call, data["task"], bool(data.get("force")))
    unset = [f"configuration.{metadata_keys.escape_key(name, 'configuration')}" for name in data["configuration"]]
    updated = call.scope.tasks.update_task(task["_id"], _stamp(call), unset)
    return {"deleted": int(updated is not None)}


# --- hyper-parameters ------------------------------------------------------------------------------


@handles("tasks.get_hyper_params")
def get_hyper_params(call: Call) -> dict:
    reply = []
    for task in _readable_tasks(call, call.data["tasks"], {"hyperparams": 1}):
        sections = tasks_db.load_hyperparams(task.get("hyperparams") or {})
        params = [
            {"section": section, "name": name, **item}
            for section, items in sorted(sections.items()) if isinstance(items, dict)
            for name, item in sorted(items.items())
        ]
        reply.append({"task": task["_id"], "hyperparams": params})
    return {"params": reply}


@handles("tasks.edit_hyper_params")
def edit_hyper_params(call: Call) -> dict:
    data = call.data
    # like ClearML, the `properties` section (run-time facts, not inputs) may change in any status
    properties_only = all(item.get("section") == PROPERTIES for item in data["hyperparams"])
    task = _editable_task(call, data["task"], bool(data.get("force")), any_status=properties_only)
    sections: dict[str, dict] = {}
    for item in data["hyperparams"]:
        section, name = item.get("section"), item.get("name")
        if section is None or not name:
            raise errors.ValidationError("error for field 'hyperparams'. section and name are required")
        sections.setdefault(section, {})[name] = {k: v for k, v in item.items() if v is not None}
    stored = tasks_db.store_hyperparams(sections)
    replace = data.get("replace_hyperparams") or "none"
    if replace == "all":
        fields = {"hyperparams": stored}
    elif replace == "section":
        fields = {f"hyperparams.{section}": params for section, params in stored.items()}
    else:
        fields = {f"hyperparams.{section}.{name}": item
                  for section, params in stored.items() for name, item in params.items()}
    if not fields:
        return {"updated": 0}
    updated = call.scope.tasks.update_task(task["_id"], {**fields, **_stamp(call)})
    return {"updated": int(updated is not None)}



@handles("tasks.delete_hyper_params")
def delete_hyper_params(call: Call) -> dict:
    """Each item names a section and a parameter, or only a section (all its parameters go)."""
    data = call.data
    properties_only = all(item.get("section") == PROPERTIES for item in data["hyperparams"])
    task = _editable_task(call, data["task"], bool(data.get("force")), any_status=properties_only)
    unset = []
    for item in data["hyperparams"]:
        path = f"hyperparams.{metadata_keys.escape_key(item['section'], 'hyperparams')}"
        if item.get("name"):
            path += f".{metadata_keys.escape_key(item['name'], 'hyperparams')}"
        unset.append(path)
    updated = call.scope.tasks.update_task(task["_id"], _stamp(call), unset)
    return {"deleted": int(updated is not None)}
