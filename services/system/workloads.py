"""organization.get_project_workloads: the run time of tasks per day, broken down by project, user and
queue, in the shape the ClearML server answers (apiserver/bll/project/project_usages.py, whose
`get_project_usages` this follows).

What is counted, as there: the caller's company's tasks (and public ones) in the projects (one project:
each of its children, with their descendants, and the project itself; several: each with its
descendants) that had started before the range ended and were running in it: running now, or completed
(else last changed) after it began. A task run from no queue is a development run and, like one tagged
`development`, counts only with `include_development`. modelreg has no queues or agents, so the queue
breakdown is one key, `null`, and cpu/gpu usage weigh every running second 1 (marked
`*_artificial_weights`, as ClearML marks a queue without declared resources). Days run in the time zone
of `from_date`'s offset; every series has one value per day of the range.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta, timezone

from database import clock
from services import errors
from services.call import Call

KEYS = ("project", "user", "queue")
DEFAULT_USAGES = ("duration", "gpu_usage")
MAX_DAYS = 400  # a reply holds one value per key and day: bounded
MAX_TASKS = 20000  # tasks read for one reply
DAY = 86400


def _date(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.upper().endswith("Z") else text)
    except ValueError:
        raise errors.ValidationError(f"error for field '{field}'. Invalid ISO 8601 date {text[:40]!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _keys_of_projects(call: Call, project_ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """{project id: the key it counts under} for every project covered, and the keys."""
    if len(project_ids) == 1:
        root = project_ids[0]
        keys = [p["_id"] for p in call.scope.projects.find({"parent": root}, {"_id": 1})] + [root]
    else:
        keys = list(dict.fromkeys(project_ids))
    key_of = {key: key for key in keys}
    children = [k for k in keys if not (len(project_ids) == 1 and k == project_ids[0])]
    for doc in call.scope.projects.find({"path": {"$in": children}}, {"path": 1}) if children else []:
        for ancestor in doc.get("path") or []:
            if ancestor in key_of and ancestor in children:
                key_of[doc["_id"]] = ancestor
                break
    return key_of, keys


def workloads(call: Call) -> dict:
    data = call.data
    start_at, end_at = _date(data["from_date"], "from_date"), _date(data["to_date"], "to_date")
    if start_at > end_at:
        raise errors.ValidationError("from_date cannot be later than to_date")
    zone = start_at.tzinfo
    start = datetime.combine(start_at.date(), time.min, tzinfo=zone)
    end = datetime.combine(end_at.astimezone(zone).date(), time.max, tzinfo=zone)
    days = (end.date() - start.date()).days + 1
    if days > MAX_DAYS:
        raise errors.ValidationError(f"error for field 'to_date'. at most {MAX_DAYS} days at once")
    breakdown = list(dict.fromkeys(data.get("breakdown_keys") or KEYS))
    usages = list(dict.fromkeys(data.get("usage_fields") or DEFAULT_USAGES))
    reply = {f"{key}s": {"total": [], "series": []} for key in breakdown}
    key_of, project_keys = _keys_of_projects(call, [p for p in data["projects"] if isinstance(p, str)])
    if not key_of:
        return reply

    condition: dict = {"project": {"$in": list(key_of)}, "started": {"$lt": end},
                       "$or": [{"status": "in_progress"}, {"completed": {"$gt": start}},
                               {"completed": None, "status_changed": {"$gt": start}}]}
    if not data.get("include_development"):
        condition["execution.queue"] = {"$nin": [None, ""]}
        condition["system_tags"] = {"$ne": "development"}
    tasks = call.scope.tasks.find(condition, {"project": 1, "user": 1, "execution.queue": 1, "status": 1,
                                              "started": 1, "completed": 1, "status_changed": 1}, limit=MAX_TASKS)
    now = clock.now()
    per_key = {key: defaultdict(lambda: [0.0] * days) for key in breakdown}
    for task in tasks:
        began = max(clock.as_utc(task["started"]), start)
        if task.get("status") == "in_progress":
            stopped = min(now, end)
        else:
            stopped = min(clock.as_utc(task.get("completed") or task.get("status_changed") or began), end)
        seconds_by_day = _split_by_day(began.astimezone(zone), stopped.astimezone(zone), start, days)
        keys = {"project": key_of.get(task.get("project")), "user": task.get("user"),
                "queue": (task.get("execution") or {}).get("queue") or None}
        for key in breakdown:
            row = per_key[key][keys[key]]
            for day, seconds in seconds_by_day:
                row[day] += seconds
    names = _names(call, per_key, project_keys)
    dates = [(start + timedelta(days=i)).timestamp() for i in range(days)]
    for key in breakdown:
        for ident, row in per_key[key].items():
            name = names.get(key, {}).get(ident, ident)
            weights = {f"{u.rpartition('_')[0]}_artificial_weights": True for u in usages if u != "duration"}
            per_day = {u: [round(s, 3) for s in row] for u in usages}
            reply[f"{key}s"]["series"].append({"name": name, "id": ident, "dates": dates, **per_day, **weights})
            reply[f"{key}s"]["total"].append({"name": name, "id": ident,
                                              **{u: round(sum(row), 3) for u in usages}, **weights})
    return reply


def _split_by_day(began: datetime, stopped: datetime, start: datetime, days: int) -> list[tuple[int, float]]:
    """(day index, running seconds that day) for a run from `began` to `stopped`."""
    out = []
    if stopped <= began:
        return out
    first = (began.date() - start.date()).days
    last = min((stopped.date() - start.date()).days, days - 1)
    for day in range(max(first, 0), last + 1):
        day_start = start + timedelta(days=day)
        seconds = (min(stopped, day_start + timedelta(seconds=DAY)) - max(began, day_start)).total_seconds()
        if seconds > 0:
            out.append((day, seconds))
    return out


def _names(call: Call, per_key: dict, project_keys: list[str]) -> dict:
    names: dict = {}
    if "project" in per_key and per_key["project"]:
        ids = [i for i in per_key["project"] if i]
        names["project"] = {p["_id"]: p.get("name") for p in call.scope.projects.find({"_id": {"$in": ids}},
                                                                                        {"name": 1})}
    if "user" in per_key and per_key["user"]:
        names["user"] = {u["id"]: u["name"] for u in call.scope.users.names(i for i in per_key["user"] if i)}
    return names
