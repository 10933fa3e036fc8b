"""organization.*: facts about the caller's company as a whole."""

from __future__ import annotations

from database.query.tag_lists import distinct_tags
from services.call import Call
from services.handlers import handles
from services.system import workloads


@handles("organization.get_tags")
def get_tags(call: Call) -> dict:
    data = call.data
    return distinct_tags([call.scope.tasks, call.scope.models], data.get("filter"),
                         include_system=bool(data.get("include_system")))


@handles("organization.get_project_workloads")
def get_project_workloads(call: Call) -> dict:
    """ClearML's shape (services/system/workloads.py says what is counted)."""
    return workloads.workloads(call)
