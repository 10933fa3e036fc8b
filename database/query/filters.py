"""The filter half of the query engine: a get_all request's filter keys -> one MongoDB filter.

List filters (`tags: ["a", "-b", "__$all", ...]`), the 2.27 `filters` form, patterns, equality,
numeric and date ranges, `_any_`/`_all_`, `search_text`, and the project tree for
`include_subprojects`. Bad terms raise database.errors classes naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.database import Database

from database.errors import FieldValueError, QueryError
from database.query import metadata_keys
from database.query.dates import parse_datetime, through
from database.query.patterns import escape_literal, vet_pattern
from database.query.specs import QuerySpec

PROJECTS_COLLECTION = "projects"

_OP_PREFIX = "__$"
_ALL_OPS = {"all", "and"}
_ANY_OPS = {"any", "or"}
_DATETIME_PREFIXES = (">=", "<=", ">", "<")
_MONGO_COMPARE = {">=": "$gte", "<=": "$lte", ">": "$gt", "<": "$lt"}
_COMBINERS = {"_any_": "$or", "_or_": "$or", "_all_": "$and", "_and_": "$and"}
_PAGING_KEYS = {"page", "page_size", "scroll_id", "size", "refresh_scroll", "only_fields", "order_by"}


def _null_condition(path: str) -> dict:
    # {path: None} matches a missing or null value, {path: []} an empty list.
    return {path: {"$in": [None, []]}}


class _ListTerms:
    """Sorts list-filter terms into any-of, all-of and excluded buckets (ClearML's ListFieldBucketHelper)."""

    def __init__(self, name: str):
        self.name = name
        self.mode = "any"
        self.negate_next = False
        self.joiner: str | None = None  # "$and" or "$or", set by the first operator seen
        self.seen_operator = False
        self.buckets: dict[str, list] = {"any": [], "all": [], "not": []}

    def add(self, term: Any) -> None:
        if term is not None and not isinstance(term, str):
            raise FieldValueError("invalid list filter term", field=self.name, value=term)
        if isinstance(term, str) and term.startswith(_OP_PREFIX):
            self._operator(term)
            return
        if self.negate_next:
            self.negate_next = False
            self.buckets["not"].append(term)
        elif isinstance(term, str) and term.startswith("-") and not self.seen_operator:
            self.buckets["not"].append(term[1:])
        else:
            self.buckets[self.mode].append(term)

    def _operator(self, term: str) -> None:
        op = term[len(_OP_PREFIX):]
        self.seen_operator = True
        if op == "not":  # unary: it does not choose how the groups are joined
            self.negate_next = True
            return
        if op == "nop":
            self.mode, self.negate_next = "any", False
            return
        if op in _ALL_OPS:
            self.mode = "all"
        elif op in _ANY_OPS:
            self.mode = "any"
        else:
            raise FieldValueError("invalid list filter operator", field=self.name, value=term)
        if self.joiner is None:
            self.joiner = "$and" if op in _ALL_OPS else "$or"

    def condition(self, path: str) -> dict | None:
        parts = []
        any_terms = self.buckets["any"]
        if any_terms:
            values = [t for t in any_terms if t is not None]
            parts.append({path: {"$in": values + ([None, []] if None in any_terms else [])}})
        all_terms = self.buckets["all"]
        if all_terms:
            values = [t for t in all_terms if t is not None]
            if values:
                parts.append({path: {"$all": values}})
            if None in all_terms:
                parts.append(_null_condition(path))
        not_terms = self.buckets["not"]
        if not_terms:
            values = [t for t in not_terms if t is not None]
            parts.append({path: {"$nin": values + ([None, []] if None in not_terms else [])}})
        return _join(self.joiner or "$and", parts)


def _join(op: str, parts: list[dict]) -> dict | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {op: parts}


def _list_condition(name: str, path: str, value: Any) -> dict | None:
    if value is None:  # a bare null filters nothing (the web app sends `"user": null`); [null] matches null
        return None
    terms = _ListTerms(name)
    for term in value if isinstance(value, (list, tuple)) else [value]:
        terms.add(term)
    return terms.condition(path)


def _check_terms(name: str, terms: Any) -> list:
    if terms is None:
        return []
    terms = terms if isinstance(terms, (list, tuple)) else [terms]
    for term in terms:
        if term is not None and not isinstance(term, str):
            raise FieldValueError("invalid list filter term", field=name, value=term)
        if isinstance(term, str) and term.startswith(_OP_PREFIX):
            raise FieldValueError("invalid list filter term", field=name, value=term)
    return list(terms)


def _filters_condition(name: str, path: str, spec: Any) -> dict | None:
    """The 2.27 `filters` form: {any: {include, exclude}, all: {include, exclude}, op: and|or}."""
    if not isinstance(spec, dict):
        raise FieldValueError("invalid filters value", field=name, value=spec)

    def values(terms: list) -> list:
        # null stands for an empty list: it matches a missing, null or empty field.
        return [t for t in terms if t is not None] + ([None, []] if None in terms else [])

    groups = []
    any_spec = spec.get("any") or {}
    any_parts = []
    include = _check_terms(name, any_spec.get("include"))
    if include:
        any_parts.append({path: {"$in": values(include)}})
    exclude = _check_terms(name, any_spec.get("exclude"))
    for term in exclude:  # "not all of": at least one of them is missing
        any_parts.append({path: {"$nin": values([term])}})
    if any_parts:
        groups.append(_join("$or", any_parts))
    all_spec = spec.get("all") or {}
    all_parts = []
    include = _check_terms(name, all_spec.get("include"))
    all_parts.extend({path: {"$in": values([term])}} for term in include)
    exclude = _check_terms(name, all_spec.get("exclude"))
    if exclude:
        all_parts.append({path: {"$nin": values(exclude)}})
    if all_parts:
        groups.append(_join("$and", all_parts))
    op = spec.get("op") or "and"
    if op not in ("and", "or"):
        raise FieldValueError("invalid filters op", field=name, value=op)
    return _join(f"${op}", groups)


def _datetime_condition(name: str, path: str, value: Any) -> dict | None:
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(not isinstance(v, str) for v in values):
        raise QueryError("invalid datetime value", field=name, value=value)
    if len(values) == 2 and not any(v.startswith(_DATETIME_PREFIXES) for v in values):
        return {path: {"$gte": parse_datetime(values[0], name), **through(parse_datetime(values[1], name))}}
    ops: dict[str, Any] = {}
    for v in values:
        prefix = next((p for p in _DATETIME_PREFIXES if v.startswith(p)), None)
        when = parse_datetime(v[len(prefix):] if prefix else v, name)
        if prefix == "<=":
            ops.update(through(when))
        else:
            ops[_MONGO_COMPARE[prefix] if prefix else "$eq"] = when
    return {path: ops} if ops else None


def _range_value(name: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise QueryError("invalid range value", field=name, value=value)
    if value is None or isinstance(value, (datetime, int, float)):
        return value
    if isinstance(value, str):
        return parse_datetime(value, name)
    raise QueryError("invalid range value", field=name, value=value)


def _range_condition(name: str, path: str, value: Any) -> dict | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise QueryError("range must be [min, max]", field=name, value=value)
    low, high = (_range_value(name, v) for v in value)
    ops = {"$gte": low} if low is not None else {}
    if high is not None:
        ops.update(through(high) if isinstance(high, datetime) else {"$lte": high})
    if low is None:  # an open minimum also matches a missing value
        return {"$or": [{path: ops}, {path: None}]} if ops else None
    return {path: ops}


def _combined_condition(spec: QuerySpec, key: str, value: Any) -> dict | None:
    """`_any_`/`_all_` (`_or_`/`_and_`): {pattern | datetime, fields}."""
    if not isinstance(value, dict):
        raise QueryError("expected {pattern|datetime, fields}", field=key)
    has_pattern, has_datetime = value.get("pattern") is not None, value.get("datetime") is not None
    if has_pattern == has_datetime:
        raise QueryError("exactly one of pattern and datetime is required", field=key)
    fields = value.get("fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise QueryError("fields must be a list of field names", field=key)
    parts = []
    for name in fields:
        # never an operator nor a secret; a field the resource lacks matches nothing (the web app's search
        # names its tables' columns, and a column this server does not keep must not fail the search)
        path = spec.searchable(name)
        if has_pattern:
            pattern = vet_pattern(value["pattern"], key, ignore_case=True)
            parts.append({path: {"$regex": pattern, "$options": "i"}})
        else:
            parts.append(_datetime_condition(key, path, value["datetime"]))
    return _join(_COMBINERS[key], [p for p in parts if p])


def _search_text_condition(spec: QuerySpec, text: Any) -> dict | None:
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise FieldValueError("search_text must be a string", field="search_text")
    pattern = escape_literal(text)
    return _join("$or", [{spec.db_path(f): {"$regex": pattern, "$options": "i"}} for f in spec.text_fields])


def _field_condition(spec: QuerySpec, key: str, value: Any) -> dict | None:
    if metadata_keys.is_metadata_path(key) and spec.matches(spec.list_fields, key):
        path = spec.db_path(key)
        if key.count(".") == 1:  # metadata.<key> filters on the entry's value
            path += ".value"
        return _list_condition(key, path, value)
    if spec.matches(spec.list_fields, key):
        return _list_condition(key, spec.db_path(key), value)
    if key in spec.pattern_fields:
        if value is None:
            return None
        return {spec.db_path(key): {"$regex": vet_pattern(value, key)}}
    if key in spec.equality_fields:
        if value is None:
            return None
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
            raise FieldValueError("invalid value", field=key, value=value)
        return {spec.db_path(key): {"$in": values} if isinstance(value, (list, tuple)) else value}
    if spec.matches(spec.range_fields, key):
        return _range_condition(key, spec.db_path(key), value)
    if key in spec.datetime_fields:
        return _datetime_condition(key, spec.db_path(key), value)
    return None


def build_filter(spec: QuerySpec, data: dict) -> dict:
    """The MongoDB filter for a get_all request. Unknown keys are ignored."""
    filters = data.get("filters") or {}
    if not isinstance(filters, dict):
        raise FieldValueError("filters must be an object", field="filters")
    parts = []
    for key, value in data.items():
        if key in _PAGING_KEYS or key in filters:
            continue
        if key in _COMBINERS:
            parts.append(_combined_condition(spec, key, value))
        elif key == "search_text":
            parts.append(_search_text_condition(spec, value))
        else:
            parts.append(_field_condition(spec, key, value))
    for key, value in filters.items():
        if not spec.matches(spec.list_fields, key):
            raise FieldValueError("filters only apply to list fields", field=key)
        path = spec.db_path(key)
        if metadata_keys.is_metadata_path(key) and key.count(".") == 1:
            path += ".value"
        parts.append(_filters_condition(key, path, value))
    parts = [p for p in parts if p]
    return _join("$and", parts) or {}


def expand_projects(db: Database, project_ids: Sequence[str] | str) -> list[str]:
    """`project_ids` followed by the ids of all their descendant projects (by the `path` of ancestor ids)."""
    ids = [project_ids] if isinstance(project_ids, str) else [p for p in project_ids or [] if isinstance(p, str)]
    out = list(dict.fromkeys(ids))
    if ids:
        for doc in db[PROJECTS_COLLECTION].find({"path": {"$in": ids}}, {"_id": 1}):
            if doc["_id"] not in out:
                out.append(doc["_id"])
    return out


def _expand_project_terms(db: Database, value: Any) -> Any:
    """List-filter terms for `project` with each plain or excluded id followed by its descendants."""
    terms = value if isinstance(value, (list, tuple)) else [value]
    out: list = []
    negate_next = False
    for term in terms:
        if not isinstance(term, str) or term.startswith(_OP_PREFIX):
            out.append(term)
            negate_next = term == _OP_PREFIX + "not"
            continue
        prefix = "-" if term.startswith("-") and not negate_next else ""
        for index, project_id in enumerate(expand_projects(db, [term[len(prefix):]])):
            if negate_next and index:
                out.append(_OP_PREFIX + "not")  # __$not applies to the next term only
            out.append(prefix + project_id)
        negate_next = False
    return out


