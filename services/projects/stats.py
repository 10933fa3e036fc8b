"""What projects.get_all_ex adds for user interfaces, beyond services/projects/crud.py: the company as
{id, name} and the timing stats of `include_stats` (ClearML's per-state total_tasks, total_runtime,
completed_tasks_24h, last_task_run). A plain module (no handlers), called by projects.get_all_ex."""

from __future__ import annotations

from services.call import Call


def complete(call: Call, data: dict, docs: list[dict]) -> None:
    _company_objects(call, docs)
    if data.get("include_stats"):
        _complete_stats(call, data, docs)


def _company_objects(call: Call, docs: list[dict]) -> None:
    present = [d for d in docs if isinstance(d.get("company"), str)]
    if not present:
        return
    names = {call.company: call.scope.users.company_name()}
    for doc in present:
        company = doc["company"]
        # a public project (company "") has no owner to name: {} as for models' references
        doc["company"] = {"id": company, "name": names.get(company, "")} if company else {}


def _complete_stats(call: Call, data: dict, docs: list[dict]) -> None:
    with_children = data.get("stats_with_children", True)
    for doc in docs:
        stats = doc.get("stats")
        if not isinstance(stats, dict) or not doc.get("id"):
            continue
        scope = [doc["id"]]
        if with_children:
            scope += [p["id"] for p in doc.get("sub_projects") or [] if p.get("id")]
        for state, section in stats.items():
            if not isinstance(section, dict):
                continue
            counts = section.get("status_count") or {}
            section["total_tasks"] = sum(counts.values())
            section.update(call.scope.tasks.timing(scope, state == "archived", users=data.get("active_users") or None))
