"""Read-only views of the users of one company: listings, names for ids, company names, and who owns
the tasks and models of given projects. Never reads across companies."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.database import Database

from database import query
from database.models_db import MODELS
from database.projects_db import PROJECTS
from database.tasks_db import TASKS
from database.users_db import USERS

USER_SPEC = query.QuerySpec(
    list_fields=frozenset({"id"}),
    pattern_fields=frozenset({"name"}),
    datetime_fields=frozenset({"created"}),
    text_fields=("name", "id"),
    # kept on user documents for tokens; the API shows a company as an id (or {id, name} for the caller)
    hidden_fields=frozenset({"company_name"}),
    known_fields=frozenset({"id", "name", "given_name", "family_name", "company", "role", "created", "email",
                            "avatar"}),
)
_OWNED = {"task": TASKS, "model": MODELS}


def find_users(db: Database, company: str, data: dict, **options) -> list[dict]:
    """One page of the company's users for a users.get_all request (the shared query engine)."""
    docs, _ = query.find_page(db[USERS], USER_SPEC, data, {"company": company}, company=company, **options)
    return docs


def get_company_user(db: Database, company: str, user_id: str) -> dict | None:
    doc = db[USERS].find_one({"_id": user_id, "company": company}, {"company_name": 0})
    return query.to_api(doc) if doc else None


def company_names(db: Database, companies: Iterable[str]) -> dict[str, str]:
    """{company id: name} as recorded on the companies' users (a company has no document of its own)."""
    ids = [c for c in set(companies) if c]
    if not ids:
        return {}
    pipeline = [
        {"$match": {"company": {"$in": ids}}},
        {"$group": {"_id": "$company", "name": {"$first": "$company_name"}}},
    ]
    return {d["_id"]: d.get("name") or "" for d in db[USERS].aggregate(pipeline)}


def owners(db: Database, company: str, entity: str, project_ids: list[str] | None) -> list[dict]:
    """[{id, name}] of the company's users who own tasks (entity "task") or models ("model") of the
    company, or public ones, in the projects (all projects when None), sorted by name. Owners from
    other companies (of public entities) are left out: their names belong to those companies."""
    match: dict = {"company": {"$in": [company, ""]}}
    if project_ids is not None:
        match["project"] = {"$in": project_ids}
    user_ids = [u for u in db[_OWNED[entity]].distinct("user", match) if u]
    return _named(db, company, user_ids)


def active_users(db: Database, company: str, project_ids: list[str] | None) -> list[str]:
    """Ids of the company's users who created projects, tasks or models in the projects (users.get_all_ex)."""
    match: dict = {"company": company}
    found: set = set()
    if project_ids is not None:
        found.update(db[PROJECTS].distinct("user", {**match, "_id": {"$in": project_ids}}))
        match["project"] = {"$in": project_ids}
    else:
        found.update(db[PROJECTS].distinct("user", match))
    for collection in (TASKS, MODELS):
        found.update(db[collection].distinct("user", match))
    return [u for u in found if u]


def _named(db: Database, company: str, user_ids: list[str]) -> list[dict]:
    if not user_ids:
        return []
    docs = db[USERS].find({"_id": {"$in": user_ids}, "company": company}, {"name": 1})
    return sorted(({"id": d["_id"], "name": d.get("name", "")} for d in docs), key=lambda u: (u["name"], u["id"]))
