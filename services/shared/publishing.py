"""Publishing: a task with its output model (tasks.publish/completed) or a model with its task
(models.set_ready / publish_many)."""

from __future__ import annotations

from database import clock
from database.collections import tasks_db
from database.collections.scope import Scope
from services import errors
from services.shared import lookups
from services.tasks import status as task_status
from services.tasks.status import PUBLISHED


def publish_task(scope: Scope, user: str, task_id: str, force: bool = False, publish_model: bool = False,
                 status_reason: str | None = None, status_message: str | None = None) -> dict:
    """Publishes an own task: `{"id": task_id, "data": {"updated", "fields": {"status": "published", ...}}}`.

    An illegal move (for example from in_progress) raises 400/110 unless `force`; nothing is changed then.
    With `publish_model`, the task's output model (its last `models.output` entry) is marked ready.
    """
    task = lookups.writable_task(scope, task_id)
    task_status.check_transition(task, PUBLISHED, force)
    if publish_model:
        model_id = tasks_db.output_model_id(task)
        if model_id and not model_id.startswith(tasks_db.DELETED_PREFIX):
            scope.models.set_ready(model_id, user)
    result = task_status.change_status(
        scope.tasks, user, task, PUBLISHED, force=force, status_reason=status_reason,
        status_message=status_message, extra={"published": clock.now()},
    )
    return {"id": task_id, "data": result}


def publish_model(scope: Scope, user: str, model_id: str, publish_task_too: bool,
                  force_publish_task: bool) -> tuple[int, dict | None]:
    """Marks an own model ready, first publishing its (own, unpublished) task when asked to.
    Returns (updated, the published task's reply or None)."""
    model = lookups.writable_model(scope, model_id)
    if model.get("ready"):
        raise errors.ModelIsReady(company=scope.company, model=model_id)
    published_task = None
    task_id = model.get("task")
    if task_id and publish_task_too:
        task = scope.tasks.get(task_id, {"status": 1}, allow_public=False)
        if task is not None and task.get("status") != PUBLISHED:
            published_task = publish_task(scope, user, task_id, force=force_publish_task)
    scope.models.update_fields(model_id, {"ready": True}, user, content_changed=True)
    return 1, published_task
