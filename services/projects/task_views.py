"""projects.get_task_parents and projects.get_unique_metric_variants: what the ClearML web app's tasks
table asks of a project for its filters and column choices (ClearML: apiserver/services/projects.py and
apiserver/bll/project/project_queries.py)."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles

ARCHIVED = "archived"
MAX_TASKS_READ = 10_000  # metric names are collected from at most this many tasks (a bounded read)


def _task_condition(call: Call, projects, state: str | None = None) -> dict:
    data = call.data
    scope = call.scope.projects.scope_of(projects, data.get("include_subprojects", True))
    condition: dict = {"project": {"$in": scope}} if scope is not None else {}
    if state == "active":
        condition["system_tags"] = {"$ne": ARCHIVED}
    elif state == "archived":
        condition["system_tags"] = ARCHIVED
    return condition


@handles("projects.get_task_parents")
def get_task_parents(call: Call) -> dict:
    """The parents of the tasks in the projects (of tasks in the given state), with their names."""
    condition = _task_condition(call, call.data.get("projects"), call.data.get("tasks_state") or "active")
    parent_ids = [p for p in call.scope.tasks.distinct("parent", condition) if isinstance(p, str) and p]
    parents = call.scope.tasks.get_many(parent_ids, {"name": 1, "project": 1})
    shown = [{"id": p["_id"], "name": p.get("name", ""), "project": {"id": p.get("project")}} for p in parents]
    return {"parents": sorted(shown, key=lambda p: (p["name"], p["id"]))}


@handles("projects.get_unique_metric_variants")
def get_unique_metric_variants(call: Call) -> dict:
    """Every (metric, variant) the tasks of the project reported, from their last_metrics summaries."""
    project = call.data.get("project")
    tasks = call.scope.tasks.find(_task_condition(call, [project] if project else None), {"last_metrics": 1},
                                  limit=MAX_TASKS_READ)
    seen: dict[tuple[str, str], dict] = {}
    for task in tasks:
        for metric_hash, variants in (task.get("last_metrics") or {}).items():
            for variant_hash, entry in (variants or {}).items() if isinstance(variants, dict) else ():
                if isinstance(entry, dict) and "metric" in entry and "variant" in entry:
                    seen.setdefault((metric_hash, variant_hash), {
                        "metric": entry["metric"], "metric_hash": metric_hash,
                        "variant": entry["variant"], "variant_hash": variant_hash})
    return {"metrics": sorted(seen.values(), key=lambda m: (str(m["metric"]), str(m["variant"])))}
