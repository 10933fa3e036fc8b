"""projects.get_user_names and projects.get_project_tags: lookups the ClearML web app makes for its
filters. Kept apart from services/projects/crud.py, which owns the project documents themselves."""

from __future__ import annotations

from database.query.tag_lists import distinct_tags
from services.call import Call
from services.handlers import handles
from services.shared import people


@handles("projects.get_user_names")
def get_user_names(call: Call) -> dict:
    data = call.data
    scope = call.scope.projects.scope_of(data.get("projects"), data.get("include_subprojects", True))
    return {"users": people.owners(call.scope, data.get("entity") or "task", scope)}


@handles("projects.get_project_tags")
def get_project_tags(call: Call) -> dict:
    data = call.data
    scope = call.scope.projects.scope_of(data.get("projects"), True)
    extra = {"_id": {"$in": scope}} if scope is not None else None
    return distinct_tags([call.scope.projects], data.get("filter"), include_system=bool(data.get("include_system")),
                         extra=extra)
