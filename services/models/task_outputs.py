"""A task's output model as models.update_for_task (the legacy SDK call) creates or updates it."""

from __future__ import annotations

from database.collections import tasks_db
from database.collections.scope import Scope
from services import errors
from services.shared import lookups
from services.tasks.status import CREATED, IN_PROGRESS, PUBLISHED


def task_for_model_update(scope: Scope, task_id: str) -> dict:
    """The task models.update_for_task writes to: own (400/101, 403/21) and created or in_progress
    (else 400/110)."""
    task = lookups.writable_task(scope, task_id)
    status = task.get("status") or CREATED
    if status not in (CREATED, IN_PROGRESS):
        raise errors.InvalidTaskStatus(
            "task must be created or in_progress", task=task_id, expected=(CREATED, IN_PROGRESS), status=status
        )
    return task


def model_fields_from_task(task: dict) -> dict:
    """The fields of the model models.update_for_task creates for `task`: name and comment defaults,
    project and framework of the task, design and labels from `execution.model_desc` /
    `execution.model_labels`, parent = first input model, ready = the task is published, task = its id."""
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


def link_output_model(scope: Scope, task_id: str, model_id: str, name: str | None = None) -> None:
    """Sets the task's output models to just this one."""
    scope.tasks.set_output_models(task_id, [tasks_db.model_entry(name, model_id, "output")])
