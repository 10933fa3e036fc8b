"""The query engine shared by every get_all-like endpoint: request dict → MongoDB filter, sort, projection, page.

It knows nothing of HTTP. Bad requests raise database.errors classes naming the field. Semantics follow the
ClearML server (see docs/clearml-protocol.md §7); what differs is said where it happens.

Ordering: an ascending first key puts missing, null and empty ("" or []) values last, and `metadata.*` /
`last_metrics.*` keys sort numerically where the stored value converts to a number (metadata values are stored
as the strings they were given). Both need computed sort keys, so every page is read with one aggregation
pipeline ($match, $addFields, $sort, $skip, $limit, $project), all of it run by the database. The computed
keys are only added when needed (an ascending first key or a numeric one), so a descending or absent order_by
still sorts by index. Every construct used here behaves the same on the embedded server and on MongoDB 6+
(tests/test_query_engine.py runs each one against the embedded server).

List terms: `__$not` negates the next value only; `__$nop` goes back to any-of without choosing how groups are
joined; after any operator (`__$not` included) a leading `-` is part of the value. `include_subprojects`
follows every plain or excluded project id with its descendants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from database import metadata_keys, scroll
from database.errors import FieldValueError, MissingFieldsError, QueryError, UnknownFieldError
from database.patterns import escape_literal, vet_pattern

DEFAULT_MAX_PAGE_SIZE = 500
PROJECTS_COLLECTION = "projects"
TEXT_SCORE = "@text_score"

_OP_PREFIX = "__$"
_ALL_OPS = {"all", "and"}
_ANY_OPS = {"any", "or"}
_DATETIME_PREFIXES = (">=", "<=", ">", "<")
_MONGO_COMPARE = {">=": "$gte", "<=": "$lte", ">": "$gt", "<": "$lt"}
_COMBINERS = {"_any_": "$or", "_or_": "$or", "_all_": "$and", "_and_": "$and"}
_PAGING_KEYS = {"page", "page_size", "scroll_id", "size", "refresh_scroll", "only_fields", "order_by"}
_SORT_KEY = "__sort{}"


@dataclass(frozen=True)
class QuerySpec:
    """What one collection's get_all accepts. A name ending in `.*` stands for every path under it."""

    list_fields: frozenset[str] = frozenset()
    pattern_fields: frozenset[str] = frozenset()
    equality_fields: frozenset[str] = frozenset()
    range_fields: frozenset[str] = frozenset()
    datetime_fields: frozenset[str] = frozenset()
    text_fields: tuple[str, ...] = ()
    hidden_fields: frozenset[str] = frozenset()
    known_fields: frozenset[str] = frozenset()
    numeric_sort_fields: frozenset[str] = frozenset({"metadata.*", "last_metrics.*"})
    # fields every document has (never missing or empty): an ascending sort on them needs no computed
    # "empty last" key, so it can run from an index
    always_set_fields: frozenset[str] = frozenset()
    # run the filter through flatten() (large collections whose filters are equalities and ranges)
    flat_filter: bool = False
    field_map: dict[str, str] = field(default_factory=lambda: {"id": "_id"})

    def matches(self, names: Iterable[str], path: str) -> bool:
        return any(path == n or (n.endswith(".*") and path.startswith(n[:-1])) for n in names)

    def db_path(self, path: str) -> str:
        """The stored path of an API field path (`id` → `_id`, metadata keys escaped)."""
        if metadata_keys.is_metadata_path(path):
            return metadata_keys.escape_path(path)
        head, dot, rest = path.partition(".")
        return self.field_map.get(head, head) + dot + rest

    def check_known(self, path: str) -> None:
        head = path.split(".", 1)[0]
        if head not in self.known_fields and head not in self.field_map:
            raise UnknownFieldError("unknown field", field=path)


MODEL_SPEC = QuerySpec(
    list_fields=frozenset({"tags", "system_tags", "framework", "uri", "id", "user", "project", "task", "parent",
                           "metadata.*"}),
    pattern_fields=frozenset({"name", "comment"}),
    equality_fields=frozenset({"ready"}),
    range_fields=frozenset({"created", "last_iteration", "last_metrics.*"}),
    datetime_fields=frozenset({"last_update", "last_change"}),
    text_fields=("name", "id", "comment", "parent", "task", "project"),
    hidden_fields=frozenset({"company_origin", "ui_cache", "unique_metrics"}),
    known_fields=frozenset({"id", "company", "user", "name", "parent", "project", "task", "created", "comment",
                            "framework", "tags", "system_tags", "uri", "design", "labels", "ready", "last_update",
                            "last_change", "last_changed_by", "ui_cache", "company_origin", "metadata",
                            "last_iteration", "last_metrics", "unique_metrics", "stats"}),
)


# ---- filter ------------------------------------------------------------------------------------------------------

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


def flatten(condition: dict) -> dict:
    """The same match as one flat document where that is possible: `$and` parts with distinct plain
    field names merged, and `{f: {"$in": [v]}}` (a one-value list filter) written `{f: v}`. A flat
    filter of equalities lets every planner (the embedded server's too, which otherwise scans the
    collection) pick the compound index that serves both the filter and the order."""
    parts = condition.get("$and") if set(condition) == {"$and"} else [condition]
    if not isinstance(parts, list):
        return condition
    out: dict = {}
    for part in parts:
        if not isinstance(part, dict):
            return condition
        nested = part.get("$and") if set(part) == {"$and"} else None
        for name, value in (flatten(part) if nested else part).items():
            if name in out or name.startswith("$"):
                return condition
            one = isinstance(value, dict) and set(value) == {"$in"} and len(value["$in"]) == 1
            out[name] = value["$in"][0] if one and isinstance(value["$in"][0], str) else value
    return out


def _join(op: str, parts: list[dict]) -> dict | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {op: parts}


def _list_condition(name: str, path: str, value: Any) -> dict | None:
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


def parse_datetime(value: Any, name: str) -> datetime:
    """An ISO 8601 string as an aware UTC datetime (naive means UTC)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            text = value.strip()
            # Python 3.10's fromisoformat does not take a "Z" suffix
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except (AttributeError, TypeError, ValueError):
            raise QueryError("invalid datetime value", field=name, value=value) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _datetime_condition(name: str, path: str, value: Any) -> dict | None:
    values = value if isinstance(value, (list, tuple)) else [value]
    if any(not isinstance(v, str) for v in values):
        raise QueryError("invalid datetime value", field=name, value=value)
    if len(values) == 2 and not any(v.startswith(_DATETIME_PREFIXES) for v in values):
        return {path: {"$gte": parse_datetime(values[0], name), "$lte": parse_datetime(values[1], name)}}
    ops: dict[str, Any] = {}
    for v in values:
        prefix = next((p for p in _DATETIME_PREFIXES if v.startswith(p)), None)
        when = parse_datetime(v[len(prefix):] if prefix else v, name)
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
    ops = {k: v for k, v in (("$gte", low), ("$lte", high)) if v is not None}
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
        path = spec.db_path(name)
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
        path = metadata_keys.escape_path(key)
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


# ---- sort --------------------------------------------------------------------------------------------------------

def build_sort(spec: QuerySpec, order_by: Any, search_text: Any = None) -> list[tuple[str, int]]:
    """[(db path, 1|-1)] for `order_by`, `_id` appended; [] (natural order) when nothing is asked."""
    if order_by is None:
        return []
    keys = [order_by] if isinstance(order_by, str) else order_by
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise FieldValueError("order_by must be a list of field names", field="order_by")
    sort: list[tuple[str, int]] = []
    for key in keys:
        name = key.lstrip("-+")
        if not name:
            continue
        if name == TEXT_SCORE:
            if not search_text:
                raise FieldValueError("text score sorting requires search_text", field="order_by", value=key)
            continue  # no text index: results are not ranked by relevance
        spec.check_known(name)
        path = spec.db_path(name)
        if metadata_keys.is_metadata_path(name) and name.count(".") == 1:
            path += ".value"  # metadata.<key> sorts by the entry's value
        if path not in (p for p, _ in sort):
            sort.append((path, -1 if key.startswith("-") else 1))
    if sort and "_id" not in (p for p, _ in sort):
        sort.append(("_id", 1))
    return sort


def _sort_stages(spec: QuerySpec, sort: list[tuple[str, int]]) -> list[dict]:
    """$addFields + $sort: numeric keys converted, an ascending first key with missing/empty values last."""
    if not sort:
        return []
    added: dict[str, Any] = {}
    keys: dict[str, int] = {}
    for index, (path, direction) in enumerate(sort):
        value: Any = "$" + path
        if spec.matches(spec.numeric_sort_fields, path):
            value = {"$convert": {"input": value, "to": "double", "onError": value, "onNull": None}}
            added[_SORT_KEY.format(index)] = value
        if index == 0 and direction == 1 and not spec.matches(spec.always_set_fields, path):
            empty = {"$in": [{"$ifNull": ["$" + path, None]}, [None, "", []]]}
            added[_SORT_KEY.format("_empty")] = {"$cond": [empty, 1, 0]}
            keys[_SORT_KEY.format("_empty")] = 1
        keys[_SORT_KEY.format(index) if _SORT_KEY.format(index) in added else path] = direction
    stages: list[dict] = [{"$addFields": added}] if added else []
    return [*stages, {"$sort": keys}]


# ---- projection --------------------------------------------------------------------------------------------------

def build_projection(spec: QuerySpec, only_fields: Any) -> dict:
    """The projection for `only_fields` (`-f` excludes); hidden fields are left out unless listed."""
    fields = only_fields or []
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields):
        raise FieldValueError("only_fields must be a list of field names", field="only_fields")
    include, exclude = [], []
    for name in fields:
        bare = name[1:] if name.startswith("-") else name
        if not bare:
            continue
        spec.check_known(bare)
        (exclude if name.startswith("-") else include).append(spec.db_path(bare))
    if include:
        # MongoDB refuses a projection holding both a path and a path under it: keep the outer one.
        paths = sorted(set(include), key=len)
        kept = [p for i, p in enumerate(paths) if not any(p.startswith(q + ".") for q in paths[:i])]
        projection = {p: 1 for p in kept}
        if "_id" not in projection:
            projection["_id"] = 0
        return projection
    projection = {p: 0 for p in exclude}
    for hidden in spec.hidden_fields:
        projection.setdefault(hidden, 0)
    return projection


# ---- paging ------------------------------------------------------------------------------------------------------

def _int(data: dict, key: str, minimum: int) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise QueryError(f"{key} must be an integer", field=key, value=data[key]) from None
    if value < minimum:
        raise QueryError(f"{key} must be >= {minimum}", field=key, value=value)
    return value


_MAX_SKIP = 2**63 - 1  # MongoDB counts skip in a signed 64-bit integer


def _page(data: dict, max_page_size: int) -> tuple[int, int]:
    """(skip, limit) for page/page_size: any un-paged call returns at most `max_page_size`."""
    if "page_size" in data and data["page_size"] is None:
        raise MissingFieldsError("page_size must not be null", missing="page_size")
    page = _int(data, "page", 0) if data.get("page") is not None else 0
    size = _int(data, "page_size", 1) if "page_size" in data else max_page_size
    size = min(size, max_page_size)
    if page * size > _MAX_SKIP:
        raise QueryError("page is beyond the last possible result", field="page", value=page)
    return page * size, size


def to_api(doc: dict) -> dict:
    """A stored document as the API shows it: `_id` → `id`, metadata keys unescaped."""
    out = {("id" if k == "_id" else k): v for k, v in doc.items()}
    if "metadata" in out:
        out["metadata"] = metadata_keys.unescape_metadata(out["metadata"])
    return out


def find_page(collection: Collection, spec: QuerySpec, data: dict, base_filter: dict | None = None, *,
              company: str | None = None, max_page_size: int = DEFAULT_MAX_PAGE_SIZE,
              scroll_ttl_sec: int = scroll.DEFAULT_TTL_SEC) -> tuple[list[dict], str | None]:
    """One page of documents (in API shape) for a get_all request, and the scroll id when scrolling.

    `base_filter` is the caller's scope (company, public documents); `company` owns the scroll state.
    """
    db = collection.database
    if data.get("include_subprojects") and data.get("project") is not None:
        data = {**data, "project": _expand_project_terms(db, data["project"])}
    query = build_filter(spec, data)
    match = _join("$and", [p for p in (base_filter, query) if p]) or {}
    if spec.flat_filter:
        match = flatten(match)
    sort = build_sort(spec, data.get("order_by"), data.get("search_text"))
    projection = build_projection(spec, data.get("only_fields"))

    scroll_id = None
    refresh_limit = None
    if "scroll_id" in data:
        if data.get("size") is None:
            raise QueryError("size is required when scrolling", field="size")
        size = min(_int(data, "size", 1), max_page_size)
        scroll_id, position = scroll.get_position(db, data["scroll_id"], company)
        if data.get("refresh_scroll") and position:
            skip, limit, refresh_limit = 0, position, position
        else:
            skip, limit = position, size
    else:
        skip, limit = _page(data, max_page_size)

    sort_stages = _sort_stages(spec, sort)
    if len(sort_stages) <= 1:
        # No computed sort keys: a plain find, the cheapest plan on both MongoDB and the embedded server.
        cursor = collection.find(match, projection or None).skip(skip).limit(limit)
        if sort_stages:
            cursor = cursor.sort(list(sort_stages[0]["$sort"].items()))
        docs = [to_api(doc) for doc in cursor]
    else:
        pipeline: list[dict] = [{"$match": match}, *sort_stages]
        if skip:
            pipeline.append({"$skip": skip})
        pipeline.append({"$limit": limit})
        if not any(v == 1 for v in projection.values()):  # an inclusion projection drops the sort keys itself
            projection = {**projection, **{k: 0 for k in _computed_keys(pipeline)}}
        if projection:
            pipeline.append({"$project": projection})
        docs = [to_api(doc) for doc in collection.aggregate(pipeline)]

    if scroll_id is not None:
        position = len(docs) if refresh_limit is not None else skip + len(docs)
        scroll.save(db, scroll_id, position, scroll_ttl_sec, company=company)
    return docs, scroll_id


def _computed_keys(pipeline: list[dict]) -> list[str]:
    return [k for stage in pipeline for k in stage.get("$addFields", {})]

