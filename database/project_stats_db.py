"""Task timing figures of projects.get_all_ex `include_stats` that the status counts do not cover:
run time, tasks completed in the last 24 hours, and the last task start."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from pymongo.database import Database

from database.tasks_db import TASKS

# A task that is still queued or running, or failed, does not count as recently completed.
NOT_COMPLETED = ("queued", "in_progress", "failed")


def timing(db: Database, company: str, project_ids: Iterable[str], archived: bool,
           now: datetime | None = None) -> dict:
    """{total_runtime (seconds), completed_tasks_24h, last_task_run (datetime or None)} over the
    company's (archived or active) tasks in the projects."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(hours=24)
    archived_filter = {"system_tags": "archived"} if archived else {"system_tags": {"$ne": "archived"}}
    match = {"company": company, "project": {"$in": list(project_ids)}, **archived_filter}
    runtime, recent, last_run = 0, 0, None
    # Only three small fields per task are read; dates are compared here rather than with
    # aggregation date arithmetic, which the embedded server may not support.
    for task in db[TASKS].find(match, {"started": 1, "completed": 1, "status": 1, "_id": 0}):
        started, completed = task.get("started"), task.get("completed")
        if isinstance(started, datetime):
            last_run = started if last_run is None or started > last_run else last_run
        if isinstance(completed, datetime):
            if isinstance(started, datetime) and completed > started:
                runtime += int((completed - started).total_seconds())
            if completed > since and task.get("status") not in NOT_COMPLETED:
                recent += 1
    return {"total_runtime": runtime, "completed_tasks_24h": recent, "last_task_run": last_run}
