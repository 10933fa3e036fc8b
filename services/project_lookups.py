"""projects.get_user_names and projects.get_project_tags: lookups the ClearML web app makes for its
filters. Kept apart from services/projects.py, which owns the project documents themselves."""

from __future__ import annotations

from database import directory_db, projects_db, tag_lists_db
from services.call import Call
from services.handlers import handles


def _scope(call: Call, projects: list | None, include_subprojects: bool) -> list[str] | None:
    if not projects:
        return None
    return projects_db.with_descendants(call.db, projects) if include_subprojects else list(projects)


@handles("projects.get_user_names")
def get_user_names(call: Call) -> dict:
    data = call.data
    scope = _scope(call, data.get("projects"), data.get("include_subprojects", True))
    return {"users": directory_db.owners(call.db, call.company, data.get("entity") or "task", scope)}


@handles("projects.get_project_tags")
def get_project_tags(call: Call) -> dict:
    data = call.data
    scope = _scope(call, data.get("projects"), True)
    extra = {"_id": {"$in": scope}} if scope is not None else None
    return tag_lists_db.distinct_tags(call.db, call.company, ("project",), data.get("filter"),
                                      include_system=bool(data.get("include_system")), extra=extra)
