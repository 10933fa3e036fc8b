"""Distinct tag values over one company's documents of several resources (organization.get_tags,
projects.get_project_tags). The tag filter uses the query language of get_all (`-x`, `__$not`, null)."""

from __future__ import annotations

from collections.abc import Iterable

from database.collections.scoped import ScopedCollection
from database.query import engine as query

TAG_FIELDS = ("tags", "system_tags")
_TAG_SPEC = query.QuerySpec(list_fields=frozenset(TAG_FIELDS))


def distinct_tags(resources: Iterable[ScopedCollection], tag_filter: dict | None = None,
                  include_system: bool = False, extra: dict | None = None) -> dict:
    """{"tags": [...], "system_tags": [...] (only when asked)}: sorted distinct values over the
    company's own documents of the given resources."""
    wanted = {k: v for k, v in (tag_filter or {}).items() if k in TAG_FIELDS and v}
    condition = query.build_filter(_TAG_SPEC, wanted)
    match = {**(extra or {}), **({"$and": [condition]} if condition else {})}
    resources = list(resources)
    reply = {}
    for tag_field in TAG_FIELDS if include_system else ("tags",):
        values: set = set()
        for resource in resources:
            values.update(v for v in resource.distinct(tag_field, match, allow_public=False)
                          if isinstance(v, str) and v)
        reply[tag_field] = sorted(values)
    return reply
