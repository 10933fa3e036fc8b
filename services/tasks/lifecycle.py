"""tasks.*, part two: the lifecycle of a task: status changes, publishing, reset and delete."""

from __future__ import annotations

from database import clock
from database.collections import tasks_db
from database.errors import QueryError
from services import errors, failures
from services.call import Call
from services.handlers import handles
from services.shared import lookups, publishing, removal
from services.shared.batch import run_batch
from services.tasks import shapes
from services.tasks import status as task_status
from services.tasks.status import CREATED, IN_PROGRESS


def _task_to_change_status(call: Call) -> dict:
    """The status endpoints (started, stopped, failed, completed) answer an unknown task with 400/10
    InvalidId, as ClearML does, where the other task endpoints say 400/101."""
    task_id = call.data["task"]
    try:
        return call.scope.tasks.writable_task(task_id)
    except tasks_db.TaskNotFound:
        raise errors.InvalidId("task not found", id=task_id) from None
    except QueryError as exc:
        raise failures.from_query_error(exc) from None


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
    now = clock.now()
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
    return _status_call(call, task_status.STOPPED, {"completed": clock.now()})


@handles("tasks.failed")
def failed(call: Call) -> dict:
    return _status_call(call, task_status.FAILED, {"completed": clock.now()})


@handles("tasks.completed")
def completed(call: Call) -> dict:
    result = _status_call(call, task_status.COMPLETED, {"completed": clock.now()})
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
    return _reset_task(call, call.data["task"])


def _reset_task(call: Call, task_id: str) -> dict:
    data = call.data
    task = lookups.writable_task(call.scope, task_id)
    force = bool(data.get("force"))
    task_status.check_transition(task, CREATED, force)
    urls = removal.task_file_urls(call.scope, task) if data.get("return_file_urls") else None
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
    if urls is not None:
        reply["urls"] = {"model_urls": removed["urls"], **urls}
    return reply


@handles("tasks.delete")
def delete(call: Call) -> dict:
    return _delete_task(call, call.data["task"])


def _delete_task(call: Call, task_id: str) -> dict:
    data = call.data
    task = lookups.writable_task(call.scope, task_id)
    force = bool(data.get("force"))
    status = task.get("status") or CREATED
    if not force and status != CREATED and shapes.ARCHIVED not in (task.get("system_tags") or []):
        raise errors.TaskCannotBeDeleted("due to status, use force=true", task=task["_id"], expected=CREATED,
                                         current=status)
    if not force:
        ready = [m for m in call.scope.models.created_by_task(task["_id"]) if m.get("ready")]
        if ready:
            raise errors.TaskCannotBeDeleted("has published output models, use force=true", task=task["_id"],
                                             models=len(ready))
        children = call.scope.tasks.count({"parent": task["_id"], "status": task_status.PUBLISHED})
        if children:
            raise errors.TaskCannotBeDeleted("has published children, use force=true", task=task["_id"],
                                             children=children)
    urls = removal.task_file_urls(call.scope, task) if data.get("return_file_urls") else None
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
    if urls is not None:
        reply["urls"] = {"model_urls": removed["urls"], **urls}
    return reply



# --- batch operations (ClearML's *_many shape, services/shared/batch.py) -----------------------------------


@handles("tasks.reset_many")
def reset_many(call: Call) -> dict:
    def one(task_id: str) -> dict:
        result = _reset_task(call, task_id)
        result.pop("events", None)
        return {"dequeued": False, **result}  # nothing is ever queued here

    return run_batch(call.data["ids"], one)


@handles("tasks.delete_many")
def delete_many(call: Call) -> dict:
    def one(task_id: str) -> dict:
        result = _delete_task(call, task_id)
        result.pop("events", None)
        return result

    return run_batch(call.data["ids"], one)


@handles("tasks.publish_many")
def publish_many(call: Call) -> dict:
    data = call.data

    def one(task_id: str) -> dict:
        return publishing.publish_task(
            call.scope, call.identity.user, task_id, force=bool(data.get("force")),
            publish_model=data.get("publish_model", True), status_reason=data.get("status_reason"),
            status_message=data.get("status_message"),
        )["data"]

    return run_batch(data["ids"], one)


@handles("tasks.stop_many")
def stop_many(call: Call) -> dict:
    data = call.data

    def one(task_id: str) -> dict:
        task = lookups.writable_task(call.scope, task_id)
        return task_status.change_status(
            call.scope.tasks, call.identity.user, task, task_status.STOPPED, force=bool(data.get("force")),
            status_reason=data.get("status_reason") or "stopped", status_message=data.get("status_message"),
            extra={"completed": clock.now()},
        )

    return run_batch(data["ids"], one)


def _set_archived(call: Call, archived: bool):
    """Like ClearML, every writable task is reported as (un)archived, also one that already was: the
    status reason and message given are recorded either way."""
    data = call.data

    def one(task_id: str) -> dict:
        lookups.writable_task(call.scope, task_id)
        tag = shapes.ARCHIVED
        stamp = {"last_change": clock.now(), "last_changed_by": call.identity.user,
                 "status_reason": data.get("status_reason") or "", "status_message": data.get("status_message") or ""}
        change = {"$addToSet": {"system_tags": tag}} if archived else {"$pull": {"system_tags": tag}}
        changed = call.scope.tasks.update_many({"_id": task_id}, {**change, "$set": stamp})
        return {"archived" if archived else "unarchived": bool(changed)}

    return one


@handles("tasks.archive_many")
def archive_many(call: Call) -> dict:
    return run_batch(call.data["ids"], _set_archived(call, True))


@handles("tasks.unarchive_many")
def unarchive_many(call: Call) -> dict:
    return run_batch(call.data["ids"], _set_archived(call, False))
