"""The task status machine (protocol notes §8) and the one function that moves a task between states.

Staying in the same status is always allowed; `force` skips the check. An illegal move raises 400/110.
The status is changed with a conditional update on the status read before, so two concurrent changes
cannot both win (the loser gets 400/110 as well).
"""

from __future__ import annotations

from database import clock
from database.collections import tasks_db
from services import errors

CREATED = "created"
QUEUED = "queued"
IN_PROGRESS = "in_progress"
STOPPED = "stopped"
PUBLISHING = "publishing"
PUBLISHED = "published"
CLOSED = "closed"
FAILED = "failed"
COMPLETED = "completed"
UNKNOWN = "unknown"

STATUSES = tasks_db.STATUSES  # the same ten, in the same order

TRANSITIONS: dict[str, frozenset[str]] = {
    CREATED: frozenset({QUEUED, IN_PROGRESS}),
    QUEUED: frozenset({CREATED, IN_PROGRESS, STOPPED}),
    IN_PROGRESS: frozenset({STOPPED, FAILED, CREATED, COMPLETED}),
    STOPPED: frozenset({CLOSED, CREATED, FAILED, QUEUED, IN_PROGRESS, PUBLISHED, PUBLISHING, COMPLETED}),
    COMPLETED: frozenset({PUBLISHED, IN_PROGRESS, CREATED}),
    FAILED: frozenset({CREATED, STOPPED, PUBLISHED, QUEUED}),
    CLOSED: frozenset({CREATED, FAILED, PUBLISHED, PUBLISHING, STOPPED}),
    PUBLISHING: frozenset({PUBLISHED}),
    PUBLISHED: frozenset(),
    UNKNOWN: frozenset(),
}


def can_move(current: str | None, new: str) -> bool:
    current = current or CREATED
    return current == new or new in TRANSITIONS.get(current, frozenset())


def check_transition(task: dict, new: str, force: bool = False) -> None:
    """Raises 400/110 when `task` may not move to `new` (unless forced)."""
    current = task.get("status") or CREATED
    if not force and not can_move(current, new):
        raise errors.InvalidTaskStatus(
            "invalid status change", task=task["_id"], current_status=current, new_status=new
        )


def change_status(tasks: tasks_db.Tasks, user: str, task: dict, new: str, *, force: bool = False,
                  status_reason: str | None = None, status_message: str | None = None,
                  extra: dict | None = None, unset: tuple[str, ...] = ()) -> dict:
    """Moves `task` to `new`, writing `extra` fields along; returns `{"updated": 0|1, "fields": {...}}`.

    Used by tasks.started/stopped/completed/failed/publish/reset and by publish_task (models.set_ready).
    """
    check_transition(task, new, force)
    now = clock.now()
    fields = {
        "status": new,
        "status_reason": status_reason or "",
        "status_message": status_message or "",
        "status_changed": now,
        "last_update": now,
        "last_change": now,
        "last_changed_by": user,
        **(extra or {}),
    }
    condition = {"status": task.get("status")} if "status" in task else {"status": {"$exists": False}}
    updated = tasks.update_task(task["_id"], fields, unset, condition=condition)
    if updated is None:
        latest = tasks.get(task["_id"], {"status": 1}, allow_public=False)
        raise errors.InvalidTaskStatus(
            "the status changed meanwhile", task=task["_id"],
            current_status=(latest or {}).get("status"), new_status=new,
        )
    return {"updated": 1, "fields": fields}
