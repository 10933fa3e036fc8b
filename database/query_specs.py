"""A resource's query spec completed from the request schemas of its get_all endpoints.

The schema files say which fields a `get_all` filters on and how: a property that is a
`#/definitions/list_filter` is a list field, a `date_filter` a date field, a `range_filter` a numeric
range, and a pattern property such as `^metadata[.]` covers every path below `metadata`. Those come
from the schema, so a request's shape has one source and an operator who declares a new filter in a
schema file gets it served. The resource module's own `QuerySpec` holds only what a schema cannot say:
pattern and equality fields, free-text fields, hidden fields, and filters used inside the server.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from database.query import QuerySpec

_KINDS = {"list_filter": "list_fields", "range_filter": "range_fields", "date_filter": "datetime_fields"}
_PATH_PATTERN = re.compile(r"^\^([A-Za-z_][\w]*)\[\.\]$")  # "^metadata[.]" -> "metadata.*"


def _kind(prop) -> str | None:
    ref = prop.get("$ref") if isinstance(prop, dict) else None
    return _KINDS.get(ref.rsplit("/", 1)[-1]) if isinstance(ref, str) else None


def declared_filters(request_schema: dict) -> dict[str, set[str]]:
    """{spec attribute: field names} of the filters one request schema declares."""
    found: dict[str, set[str]] = {kind: set() for kind in _KINDS.values()}
    for name, prop in (request_schema.get("properties") or {}).items():
        kind = _kind(prop)
        if kind:
            found[kind].add(name)
    for pattern, prop in (request_schema.get("patternProperties") or {}).items():
        kind, match = _kind(prop), _PATH_PATTERN.match(pattern)
        if kind and match:
            found[kind].add(match[1] + ".*")
    return found


def complete(base: QuerySpec, request_schemas: Iterable[dict]) -> QuerySpec:
    """`base` with the filters the request schemas declare added. A field the base already treats as a
    numeric/date range (`created` of models and tasks takes [min, max] with open ends) keeps that
    reading when a schema calls it a date filter."""
    fields = {kind: set(getattr(base, kind)) for kind in _KINDS.values()}
    for schema in request_schemas:
        for kind, names in declared_filters(schema).items():
            if kind == "datetime_fields":
                names = {n for n in names if not base.matches(base.range_fields, n)}
            fields[kind] |= names
    return dataclasses.replace(base, **{kind: frozenset(names) for kind, names in fields.items()})
