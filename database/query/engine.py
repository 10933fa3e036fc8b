"""The query engine shared by every get_all-like endpoint: request dict → MongoDB filter (query_filter.py), sort,
projection, page.

It knows nothing of HTTP. Bad requests raise database.errors classes naming the field. Semantics follow the
ClearML server (see docs/clearml-protocol.md §7); what differs is said where it happens.

Ordering: an ascending first key puts missing, null and empty ("" or []) values last, and `metadata.*` /
`last_metrics.*` keys sort numerically where the stored value converts to a number (metadata values are stored
as the strings they were given). Both need computed sort keys, so every page is read with one aggregation
pipeline ($match, $addFields, $sort, $skip, $limit, $project), all of it run by the database. The computed
keys are only added when needed (an ascending first key or a numeric one), so a descending or absent order_by
still sorts by index. Every construct used here behaves the same on the embedded server and on MongoDB 6+
(tests/database/test_query_engine.py runs each one against the embedded server).

List terms: `__$not` negates the next value only; `__$nop` goes back to any-of without choosing how groups are
joined; after any operator (`__$not` included) a leading `-` is part of the value. `include_subprojects`
follows every plain or excluded project id with its descendants.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from database.collections import generations
from database.errors import FieldValueError, MissingFieldsError, QueryError, ReplyTooLarge
from database.query import local_projection, metadata_keys, readable, scroll
from database.query import shape as query_shape
from database.query.dates import parse_date, parse_datetime
from database.query.filters import _expand_project_terms, build_filter, expand_projects
from database.query.page_cache import PageCache
from database.query.specs import QuerySpec
from database.query.time_pages import TimePager

__all__ = ["QuerySpec", "TimePager", "build_filter", "build_projection", "build_sort", "drop_secrets",
           "expand_projects", "find_page", "page_window", "parse_date", "parse_datetime", "to_api"]

DEFAULT_MAX_PAGE_SIZE = 500
TEXT_SCORE = "@text_score"
_SORT_KEY = "__sort{}"


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
        path = spec.check_known(name)
        if metadata_keys.is_metadata_path(name) and name.count(".") == 1:
            path += ".value"  # metadata.<key> sorts by the entry's value
        if path not in (p for p, _ in sort):
            sort.append((path, -1 if key.startswith("-") else 1))
    if sort and "_id" not in (p for p, _ in sort):
        sort.append(("_id", 1))
    return sort


# Sort keys no stored document leaves missing or empty (QuerySpec.never_empty): ascending on them needs no
# "empty last" key, so the page stays a plain find (about 1.6x cheaper on the embedded server for a page
# of 100 ordered by name).
# Model names are checked to have at least 3 characters on every write (models_db.normalize_name).


def _sort_stages(spec: QuerySpec, sort: list[tuple[str, int]], never_empty: frozenset = frozenset({"_id"})
                 ) -> list[dict]:
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
        if index == 0 and direction == 1 and path not in never_empty:
            empty = {"$in": [{"$ifNull": ["$" + path, None]}, [None, "", []]]}
            added[_SORT_KEY.format("_empty")] = {"$cond": [empty, 1, 0]}
            keys[_SORT_KEY.format("_empty")] = 1
        keys[_SORT_KEY.format(index) if _SORT_KEY.format(index) in added else path] = direction
    stages: list[dict] = [{"$addFields": added}] if added else []
    return [*stages, {"$sort": keys}]


# ---- projection --------------------------------------------------------------------------------------------------

def build_projection(spec: QuerySpec, only_fields: Any) -> dict:
    """The projection for `only_fields` (`-f` excludes); hidden fields are left out unless listed, secret
    fields always (`drop_secrets` takes out those under a listed parent)."""
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
        (exclude if name.startswith("-") else include).append(spec.check_known(bare))
    if include:
        # MongoDB refuses a projection holding both a path and a path under it: keep the outer one.
        paths = sorted(set(include), key=len)
        kept = [p for i, p in enumerate(paths) if not any(p.startswith(q + ".") for q in paths[:i])]
        projection = {p: 1 for p in kept}
        if "_id" not in projection:
            projection["_id"] = 0
        return projection
    projection = {p: 0 for p in exclude}
    for hidden in spec.hidden_fields | spec.secret_fields:
        projection.setdefault(hidden, 0)
    return projection


def drop_secrets(spec: QuerySpec, doc: dict) -> dict:
    """`doc` (as stored) without the spec's secret fields, changed in place: an inclusion projection that
    names a parent of one lets it through, as MongoDB refuses to include a path and exclude one under it."""
    for path in spec.secret_fields:
        _drop_path(doc, path)
    return doc


def _drop_path(value: Any, path: str) -> None:
    if isinstance(value, list):  # a path through an array reaches into each of its documents, as in MongoDB
        for item in value:
            _drop_path(item, path)
    elif isinstance(value, dict):
        head, dot, rest = path.partition(".")
        if dot:
            _drop_path(value.get(head), rest)
        else:
            value.pop(head, None)


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


def page_window(data: dict, max_page_size: int, default_size: int | None = None) -> tuple[int, int]:
    """(skip, limit) for page/page_size: any un-paged call returns at most `max_page_size`. The one
    paging rule of every listing: a skip beyond MongoDB's signed 64-bit count is a 400 naming `page`."""
    if "page_size" in data and data["page_size"] is None:
        raise MissingFieldsError("page_size must not be null", missing="page_size")
    page = _int(data, "page", 0) if data.get("page") is not None else 0
    size = _int(data, "page_size", 1) if "page_size" in data else (default_size or max_page_size)
    size = min(size, max_page_size)
    if page * size > _MAX_SKIP:
        raise QueryError("page is beyond the last possible result", field="page", value=page)
    return page * size, size


def to_api(doc: dict) -> dict:
    """A stored document as the API shows it: `_id` → `id`, metadata keys unescaped."""
    if "_id" in doc:  # `id` where `_id` was (first, as stored), built by the dict's own copy
        out = {"id": doc["_id"]}
        out.update(doc)
        del out["_id"]
    else:
        out = dict(doc)
    if "metadata" in out:
        out["metadata"] = metadata_keys.unescape_metadata(out["metadata"])
    return out


class Page(list):
    """A page of documents; `cut` when the reply bound left out documents the page would have held."""

    cut = False


def find_page(collection: Collection, spec: QuerySpec, data: dict, base_filter: dict | None = None, *,
              company: str | None = None, max_page_size: int = DEFAULT_MAX_PAGE_SIZE,
              scroll_ttl_sec: int = scroll.DEFAULT_TTL_SEC, page_cache: PageCache | None = None,
              max_reply_bytes: int = 0, time_pager: TimePager | None = None) -> tuple[Page, str | None]:
    """One page of documents (in API shape) for a get_all request, and the scroll id when scrolling.

    `base_filter` is the caller's scope (company, public documents); `company` owns the scroll state.
    With `page_cache`, a plain page is kept and served again while the collection is unchanged
    (database/query/page_cache.py).

    With `max_reply_bytes`, reading stops once the page's documents (BSON size) would pass it. A scrolled
    page is then cut there (`Page.cut`) and the scroll continues after its last document; a page/page_size
    page cannot be cut (the next page would skip what was left out) and raises ReplyTooLarge, as does a
    single document past the bound.

    With `time_pager` (the embedded server only), a page whose first sort key is its time field is read
    window by window of time (database/query/time_pages.py) instead of as one query.
    """
    db = collection.database
    if data.get("include_subprojects") and data.get("project") is not None:
        data = {**data, "project": _expand_project_terms(db, data["project"])}
    query = build_filter(spec, data)
    # One flat document, most selective clause first on the embedded server, which plans from that shape.
    match = query_shape.match(db, spec, [base_filter, query])
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
        skip, limit = page_window(data, max_page_size)

    sort_stages = _sort_stages(spec, sort, spec.never_empty)
    key = generation = None
    if page_cache is not None and scroll_id is None:
        key = page_cache.key(collection.name, match, sort_stages, projection, skip, limit)
        generation = generations.read(db, collection.name)
        kept = page_cache.get(key, generation, collection.codec_options)
        if kept is not None:
            return Page(to_api(doc) for doc in kept), None
    bound = readable.Bounded(collection, max_reply_bytes)
    found = None
    if time_pager is not None and len(sort_stages) == 1 and "$sort" in sort_stages[0]:
        found = time_pager.read(collection, match, list(sort_stages[0]["$sort"].items()), projection or None,
                                skip, limit, bound)
    if found is None:
        found = _fetch(collection, match, sort_stages, projection, skip, limit, bound)
    if spec.secret_fields:  # before the page is kept: no kept page holds one either
        found = [drop_secrets(spec, doc) for doc in found]
    if bound.cut:
        _refuse_cut(found, scroll_id, max_reply_bytes)
    elif key is not None:
        page_cache.put(key, generation, found)
    docs = Page(to_api(doc) for doc in found)
    docs.cut = bound.cut

    if scroll_id is not None:
        position = len(docs) if refresh_limit is not None else skip + len(docs)
        scroll.save(db, scroll_id, position, scroll_ttl_sec, company=company)
    return docs, scroll_id


def _refuse_cut(found: list, scroll_id: str | None, max_reply_bytes: int) -> None:
    """Raises ReplyTooLarge for a cut page that cannot be sent cut."""
    advice = "ask for fewer fields (only_fields)"
    if not found:
        raise ReplyTooLarge(f"one item alone exceeds server.max_reply_bytes ({max_reply_bytes} bytes): {advice}",
                            field="only_fields")
    if scroll_id is None:
        raise ReplyTooLarge(
            f"the page would exceed server.max_reply_bytes ({max_reply_bytes} bytes) after {len(found)} items: "
            f"ask for a smaller page_size (at most {len(found)}) or {advice}, or scroll (scroll_id), which "
            "sends such a page cut", field="page_size")


def _fetch(collection: Collection, match: dict, sort_stages: list[dict], projection: dict, skip: int,
           limit: int, bound: readable.Bounded) -> list[dict]:
    """The stored documents of one page, read up to the bound."""
    if len(sort_stages) <= 1:
        # No computed sort keys: a plain find, the cheapest plan on both MongoDB and the embedded server.
        # (database.readable leaves out a stored document the database fails to send, logged)
        sort_keys = list(sort_stages[0]["$sort"].items()) if sort_stages else None
        sent, bound.local = local_projection.split(collection.database, projection)
        return readable.find_list(collection, match, sent, sort_keys, skip, limit, bound)
    pipeline: list[dict] = [{"$match": match}, *sort_stages]
    if skip:
        pipeline.append({"$skip": skip})
    pipeline.append({"$limit": limit})
    if not any(v == 1 for v in projection.values()):  # an inclusion projection drops the sort keys itself
        projection = {**projection, **{k: 0 for k in _computed_keys(pipeline)}}
    if projection:
        pipeline.append({"$project": projection})
    return bound.read(bound.source(collection).aggregate(pipeline))


def _computed_keys(pipeline: list[dict]) -> list[str]:
    return [k for stage in pipeline for k in stage.get("$addFields", {})]

