"""Fetch-or-fail: a document the caller may read or change, or the ClearML error for its absence."""

from __future__ import annotations

from database.collections.scope import Scope
from database.errors import QueryError
from services import errors, failures


def found(doc: dict | None, missing: errors.ApiError) -> dict:
    """`doc`, or the error that says it is missing (or not the caller's to see)."""
    if doc is None:
        raise missing
    return doc


def readable_model(scope: Scope, model_id: str, projection: dict | None = None) -> dict:
    return found(scope.models.get(model_id, projection),
                 errors.InvalidModelId("no such public or company model", id=model_id, company=scope.company))


def writable_model(scope: Scope, model_id: str) -> dict:
    return found(scope.models.get_writable(model_id), errors.InvalidModelId(company=scope.company, model=model_id))


def owned_model(scope: Scope, model_id: str) -> dict:
    """An own model, or a public one the caller's company shared (delete takes those too)."""
    return found(scope.models.get_owned(model_id), errors.InvalidModelId(company=scope.company, model=model_id))


def readable_task(scope: Scope, task_id: str) -> dict:
    return found(scope.tasks.get(task_id), errors.InvalidTaskId(id=task_id))


def writable_task(scope: Scope, task_id: str) -> dict:
    """The caller's own task: 400/101 when missing or another company's, 403/21 when public."""
    try:
        return scope.tasks.writable_task(task_id)
    except QueryError as exc:
        raise failures.from_query_error(exc) from None


def readable_project(scope: Scope, project_id: str) -> dict:
    return found(scope.projects.get(project_id), errors.InvalidProjectId(id=project_id))


def writable_project(scope: Scope, project_id: str) -> dict:
    return found(scope.projects.get_writable(project_id), errors.InvalidProjectId(id=project_id))


def readable_model_ids(scope: Scope, ids: list[str]) -> set[str]:
    """Which of `ids` the caller may reference (own or public models)."""
    return scope.models.readable_ids(ids)


def move_target(scope: Scope, user: str, data: dict) -> str | None:
    """The project a models.move / tasks.move request names: an own project by id, or one by `/` path
    name (created when missing), or None (the root) when the id is empty."""
    if "project" not in data and "project_name" not in data:
        raise errors.MissingRequiredFields("project or project_name is required", missing=("project", "project_name"))
    project_id = data.get("project")
    if project_id:
        return writable_project(scope, project_id)["_id"]
    if data.get("project_name"):
        return scope.projects.ensure_project_path(user, data["project_name"])
    return None
