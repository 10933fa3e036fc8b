"""The get_all_ex reply shape shared by models and tasks: reference fields as `{"id": ...}` objects,
optionally joined with fields of the referenced documents (`only_fields: ["project.name"]`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from database.collections.scope import Scope
from database.collections.scoped import ScopedCollection
from services.call import Call

# Which resource a `parent` refers to: a model's parent is a model, a task's a task.
ParentLookup = Callable[[Scope], ScopedCollection]


def split_joins(only_fields: list[str] | None, reference_fields: Iterable[str]) -> tuple[list[str] | None, dict]:
    """Returns the only_fields to query (`project` for `project.name`, `id` always when fields are
    listed) and {reference field: [joined sub-fields]}."""
    if not only_fields:
        return only_fields, {}
    references = set(reference_fields)
    fields, joins = [], {}
    for name in only_fields:
        head, dot, sub = name.partition(".")
        if dot and head in references and not name.startswith("-"):
            joins.setdefault(head, [])
            if sub != "id":
                joins[head].append(sub)
            name = head
        if name not in fields:
            fields.append(name)
    if any(not f.startswith("-") for f in fields) and "id" not in fields:
        fields.append("id")
    return fields, joins


def _joined(call: Call, field: str, ids: list[str], subfields: list[str], parents: ParentLookup) -> dict[str, dict]:
    """{id: {sub-field: value}} of the referenced documents the caller may read: one scoped query for
    the whole page's ids."""
    if not ids or not subfields:
        return {}
    projection = {s: 1 for s in subfields}
    if field == "project":
        found = call.scope.projects.get_many(ids, projection)
    elif field == "task":
        found = call.scope.tasks.get_many(ids, projection)
    elif field == "parent":
        found = parents(call.scope).get_many(ids, projection)
    elif field == "user":
        # the caller's company's users only, as ClearML joins them: a public document of another
        # company keeps its user as {"id": ...}
        subfields = [s for s in subfields if s == "name"]
        found = call.scope.users.get_many(ids, {"name": 1}) if subfields else []
    else:
        return {}
    return {d["_id"]: {k: d[k] for k in subfields if k in d} for d in found}


def with_references(
    call: Call,
    docs: list[dict],
    reference_fields: Iterable[str],
    joins: dict,
    parents: ParentLookup = lambda scope: scope.models,
) -> list[dict]:
    """Reference fields become `{"id": ...}` (null when empty; absent stays absent), with joined sub-fields."""
    for field in reference_fields:
        present = [d for d in docs if field in d]
        if not present:
            continue
        ids = list({d[field] for d in present if isinstance(d[field], str) and d[field]})
        joined = _joined(call, field, ids, joins.get(field, []), parents)
        for doc in present:
            value = doc[field]
            # ClearML clients read a missing reference as absent or null; `{}` looked like a reference without
            # id. The company of a public document ("") stays `{}`: the web app reads it as "public".
            empty = {} if field == "company" else None
            doc[field] = {"id": value, **joined.get(value, {})} if isinstance(value, str) and value else empty
    return docs
