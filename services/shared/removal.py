"""Deleting models and tasks together with everything that points at them: task references,
reported events and stored files."""

from __future__ import annotations

import re

from database.collections import tasks_db
from database.collections.scope import Scope
from services.call import Stores
from services.promotion import rules
from services.records.model_data import remove_records
from services.shared.stored_files import delete_stored_file


def remove_model(scope: Scope, stores: Stores, model: dict, delete_file: bool) -> bool:
    """Deletes a model the caller owns (checks done by the caller): tasks forget it, its events go, and
    its stored file too unless `delete_file` is false. True when the model was deleted. A version a
    protected alias names or named is refused (services/promotion/rules.py), whatever the path here."""
    rules.refuse_delete(scope, model)
    scope.tasks.replace_model_references(model["_id"])
    if not scope.models.delete(model["_id"], owned=True):
        return False
    scope.events.delete_task_events(model["_id"])
    if delete_file:
        delete_stored_file(stores, model)
    return True


def remove_task_outputs(scope: Scope, stores: Stores, task: dict, *, delete_drafts: bool, detach_ready: bool,
                        delete_files: bool, keep_used: bool = False) -> dict:
    """The models a task created: drafts are deleted with their events and files (with `keep_used`,
    not those another task uses as input); ready ones optionally lose the task
    (`task: "__DELETED__<id>"`). Returns counts and the deleted models' URIs."""
    deleted, urls = 0, []
    if delete_drafts:
        drafts = scope.models.created_by_task(task["_id"])
        for model in drafts:  # all checked before any goes
            if not model.get("ready"):
                rules.refuse_delete(scope, model)
        for model in drafts:
            if model.get("ready") or (keep_used and scope.tasks.used_as_input_elsewhere(model, task["_id"])):
                continue
            if remove_model(scope, stores, model, delete_files):
                deleted += 1
                if model.get("uri"):
                    urls.append(model["uri"])
    updated = scope.models.detach_from_task(task["_id"], tasks_db.DELETED_PREFIX + task["_id"]) if detach_ready else 0
    return {"deleted_models": deleted, "updated_models": updated, "urls": urls}


# an image a plot shows: `"source": "<scheme>://..."` inside the plot's JSON text, as ClearML finds them
_PLOT_SOURCE = re.compile(r"""['"]source['"]:\s?['"]([a-z][a-z0-9+\-.]*://[^'"]*)['"]""", re.IGNORECASE)


def task_file_urls(scope: Scope, task: dict) -> dict:
    """The files a task's events and artifacts point at, for a client to clean its storage after
    tasks.delete/reset: debug image URLs and the images plots show (`event_urls`), and the URIs of the
    task's output artifacts (`artifact_urls`). Read before the events are deleted."""
    events: set[str] = set()
    for event in scope.events.file_references(task["_id"]):
        if isinstance(event.get("url"), str) and event["url"]:
            events.add(event["url"])
        if isinstance(event.get("plot_str"), str):
            events.update(_PLOT_SOURCE.findall(event["plot_str"]))
    artifacts = (task.get("execution") or {}).get("artifacts") or []
    artifact_urls = {a["uri"] for a in artifacts if isinstance(a, dict) and (a.get("mode") or "output") == "output"
                     and isinstance(a.get("uri"), str) and a["uri"]}
    return {"event_urls": sorted(events), "artifact_urls": sorted(artifact_urls)}


def remove_task(scope: Scope, task_id: str) -> dict:
    """Deletes an own task whose models were dealt with: its children lose their parent, its events go.
    Returns `{"deleted": 0|1, "updated_children": n, "events": n}`."""
    children = scope.tasks.detach_children(task_id)
    events = scope.events.delete_task_events(task_id)
    return {"deleted": scope.tasks.delete(task_id), "updated_children": children, "events": events}


def model_data_counts(scope: Scope, model_id: str) -> dict:
    """The caller's records and datasets of a model (a model that has any is deleted only with force)."""
    return {"records": scope.records.count({"model": model_id}), "datasets": scope.datasets.count({"model": model_id})}


def remove_model_data(scope: Scope, stores: Stores, model_id: str) -> dict:
    """Deletes the caller's records of a model (with their stored files) and its datasets."""
    records = remove_records(scope, stores, {"model": model_id})
    scope.records.forget_days(model_id)
    return {"records": records, "datasets": scope.datasets.delete_of_model(model_id)}
