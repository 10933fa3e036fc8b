"""Distinct tag values across a company's tasks, models or projects (organization.get_tags,
projects.get_project_tags). The tag filter uses the query language of get_all (`-x`, `__$not`, null)."""

from __future__ import annotations

from pymongo.database import Database

from database import query
from database.models_db import MODELS
from database.projects_db import PROJECTS
from database.tasks_db import TASKS

TAG_FIELDS = ("tags", "system_tags")
_TAG_SPEC = query.QuerySpec(list_fields=frozenset(TAG_FIELDS))
COLLECTIONS = {"task": TASKS, "model": MODELS, "project": PROJECTS}


def _match(company: str, tag_filter: dict | None, extra: dict | None) -> dict:
    wanted = {k: v for k, v in (tag_filter or {}).items() if k in TAG_FIELDS and v}
    condition = query.build_filter(_TAG_SPEC, wanted)
    return {"company": company, **(extra or {}), **({"$and": [condition]} if condition else {})}


def distinct_tags(db: Database, company: str, kinds: tuple[str, ...], tag_filter: dict | None = None,
                  include_system: bool = False, extra: dict | None = None) -> dict:
    """{"tags": [...], "system_tags": [...] (only when asked)}: sorted distinct values over the
    company's own documents of the given kinds ("task", "model", "project")."""
    match = _match(company, tag_filter, extra)
    fields = TAG_FIELDS if include_system else ("tags",)
    reply = {}
    for tag_field in fields:
        values: set = set()
        for kind in kinds:
            values.update(v for v in db[COLLECTIONS[kind]].distinct(tag_field, match) if isinstance(v, str) and v)
        reply[tag_field] = sorted(values)
    return reply
