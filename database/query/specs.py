"""A resource's query spec completed from the request schemas of its get_all endpoints.

The schema files say which fields a `get_all` filters on and how: a property that is a
`#/definitions/list_filter` is a list field, a `date_filter` a date field, a `range_filter` a numeric
range, and a pattern property such as `^metadata[.]` covers every path below `metadata`. Those come
from the schema, so a request's shape has one source and an operator who declares a new filter in a
schema file gets it served. The resource module's own `QuerySpec` holds only what a schema cannot say:
pattern and equality fields, free-text fields, hidden and secret fields, and filters used inside the server.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from database.errors import UnknownFieldError
from database.query import metadata_keys


@dataclass(frozen=True)
class QuerySpec:
    """What one collection's get_all accepts. A name ending in `.*` stands for every path under it."""

    list_fields: frozenset[str] = frozenset()
    pattern_fields: frozenset[str] = frozenset()
    equality_fields: frozenset[str] = frozenset()
    range_fields: frozenset[str] = frozenset()
    datetime_fields: frozenset[str] = frozenset()
    text_fields: tuple[str, ...] = ()
    # stored paths left out of a listing unless only_fields names them
    hidden_fields: frozenset[str] = frozenset()
    # stored paths a listing never shows, whatever only_fields names (a parent named shows the rest of it),
    # and nothing sorts or matches by
    secret_fields: frozenset[str] = frozenset()
    known_fields: frozenset[str] = frozenset()
    numeric_sort_fields: frozenset[str] = frozenset({"metadata.*", "last_metrics.*"})
    field_map: dict[str, str] = field(default_factory=lambda: {"id": "_id"})
    # stored paths that always hold a non-empty value: an ascending sort on them needs no computed key
    never_empty: frozenset[str] = frozenset({"_id"})
    # The clause order sent to the embedded server, which selects candidates through the index of the first
    # clause it has one for (database/query/shape.py): stored fields a filter names right after `_id`,
    # narrowest first, and those matching whole swathes of a company after every other field, before
    # `company` itself. MongoDB gets the filter as built.
    narrow_first: tuple[str, ...] = ()
    wide_last: tuple[str, ...] = ()

    def matches(self, names: Iterable[str], path: str) -> bool:
        return any(path == n or (n.endswith(".*") and path.startswith(n[:-1])) for n in names)

    def db_path(self, path: str) -> str:
        """The stored path of an API field path (`id` → `_id`, metadata keys escaped). Every path a request
        names passes here on its way to MongoDB, which would read a segment starting with `$` as an
        operator or a variable, refuses an empty one, and whose driver refuses a NUL: such a path is an
        unknown field, named as sent."""
        if metadata_keys.is_metadata_path(path):
            stored = metadata_keys.escape_path(path)
        else:
            head, dot, rest = path.partition(".")
            stored = self.field_map.get(head, head) + dot + rest
        if not all(part and part[0] != "$" and "\0" not in part for part in stored.split(".")):
            raise UnknownFieldError("invalid field path", field=path)
        return stored

    def searchable(self, path: str) -> str:
        """The stored path of a field `_any_`/`_all_` searches: `check_known`'s rule, except that a field
        the resource does not know is searched (and matches nothing) rather than refused."""
        head = path.split(".", 1)[0]
        return self.check_known(path) if head in self.known_fields or head in self.field_map else self._open(path)

    def _open(self, path: str) -> str:
        stored = self.db_path(path)
        if any(stored == s or stored.startswith(s + ".") for s in self.secret_fields):
            raise UnknownFieldError("unknown field", field=path)
        return stored

    def check_known(self, path: str) -> str:
        """The stored path of a field a request names (order_by, only_fields, `_any_`/`_all_` fields), or
        UnknownFieldError: its first segment must be a field of the resource, no segment may be one MongoDB
        reads as something else (`db_path`), and a secret field is unknown (naming it would show it, or
        sort or match by it)."""
        head = path.split(".", 1)[0]
        if head not in self.known_fields and head not in self.field_map:
            raise UnknownFieldError("unknown field", field=path)
        stored = self.db_path(path)
        if any(stored == s or stored.startswith(s + ".") for s in self.secret_fields):
            raise UnknownFieldError("unknown field", field=path)
        return stored


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
