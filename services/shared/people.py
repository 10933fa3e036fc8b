"""Who works where: the company's users who own tasks or models, or were active, in projects."""

from __future__ import annotations

from database.collections.scope import Scope


def owners(scope: Scope, entity: str, project_ids: list[str] | None) -> list[dict]:
    """[{id, name}] of the company's users who own tasks (entity "task") or models ("model"), own or
    public, in the projects (all projects when None), sorted by name. Owners from other companies (of
    public documents) are left out: their names belong to those companies."""
    resource = scope.models if entity == "model" else scope.tasks
    condition = {"project": {"$in": project_ids}} if project_ids is not None else {}
    return scope.users.names(u for u in resource.distinct("user", condition) if u)


def active_users(scope: Scope, project_ids: list[str] | None) -> list[str]:
    """Ids of the company's users who created projects, tasks or models in the projects (all when None)."""
    found: set = set()
    if project_ids is not None:
        found.update(scope.projects.distinct("user", {"_id": {"$in": project_ids}}, allow_public=False))
        condition = {"project": {"$in": project_ids}}
    else:
        found.update(scope.projects.distinct("user", allow_public=False))
        condition = {}
    for resource in (scope.tasks, scope.models):
        found.update(resource.distinct("user", condition, allow_public=False))
    return [u for u in found if u]


def projects_of_users(scope: Scope, users: list[str]) -> list[str]:
    """Ids of the company's projects that `users` created or hold tasks or models of (the inverse of
    `active_users`; projects.get_all_ex `active_users`)."""
    found = set(scope.projects.distinct("_id", {"user": {"$in": users}}, allow_public=False))
    condition = {"user": {"$in": users}, "project": {"$nin": [None, ""]}}
    for resource in (scope.tasks, scope.models):
        found.update(resource.distinct("project", condition, allow_public=False))
    return [p for p in found if p]
