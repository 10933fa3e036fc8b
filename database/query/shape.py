"""The shape a get_all filter is sent in: one flat document, on the embedded server most selective clause first.

MongoDB reads `{$and: [A, B]}`, `{**A, **B}` and any key order the same way and plans from its indexes. The
embedded server (secantusd-py 0.7) plans from the filter's shape instead (read from its `storage.py`,
`_try_index_id_keys`, and checked with `explain`):

- any top-level operator key (`$and`, `$or`, `$nor`, `$expr`) means a collection scan;
- a filter of bare equalities rides a compound index whose leading fields are exactly those fields, and
  equalities plus ONE field of `$in`/`$eq`/`$gt`/`$gte`/`$lt`/`$lte` ride an index whose leading fields are the
  equality fields followed by that field;
- anything else (`$nin`, `$all`, `$regex`, or two operator fields) rides the index of the FIRST clause, in key
  order, that has an index led by its field, and every other clause is checked per candidate document.

So `flatten` merges the AND of the filter parts into one document where that keeps the meaning (a field's
operators may share one expression: `{f: {$in: a, $nin: b}}` is `f in a AND f not in b` on MongoDB too),
turns a one-value `$in` into the equality it is (`{tags: {$in: ["x"]}}` and `{tags: "x"}` match the same
documents, array fields included), and, for the embedded server only, orders the keys from the most to the
least selective: `_id`, then the collection's `narrow_first` fields (its QuerySpec, declared in its module
under database/collections/) unless they hold a pattern (`$regex`), then other fields, then its `wide_last`
fields, and `company` last (it holds whole tenants). MongoDB plans from its indexes whatever the order, so
there the keys go in the order the filter was built (`match` decides, from database.connection.is_embedded).
A part that cannot be merged stays under `$and`, which costs a scan on the embedded server only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.database import Database

from database import connection
from database.query.specs import QuerySpec

# Every collection's: `_id` names one document, `company` (the scope rule's field) a whole tenant.
_FIRST, _LAST = "_id", "company"
# Operators that may share one field expression with other operators without changing the meaning
# (`$regex`/`$options` pair with each other, `$not`/`$elemMatch` hold sub-expressions: left alone).
_MERGEABLE = frozenset({"$in", "$nin", "$all", "$gt", "$gte", "$lt", "$lte", "$ne", "$eq", "$exists"})
_SCALARS = (str, int, float, datetime)


def _operators(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) and k.startswith("$") for k in value)


def _simplify(value: Any) -> Any:
    """A lone one-value `$in` or a lone `$eq` of a scalar is that equality (bool excluded: isinstance counts
    it as an int)."""
    if _operators(value) and len(value) == 1:
        if "$in" in value and isinstance(value["$in"], list) and len(value["$in"]) == 1:
            scalar = value["$in"][0]
        elif "$eq" in value:
            scalar = value["$eq"]
        else:
            return value
        if isinstance(scalar, _SCALARS) and not isinstance(scalar, bool):
            return scalar
    return value


def _pattern(value: Any) -> bool:
    """A `$regex` clause: no index serves it on the embedded server, which then tries (and fails) to plan it
    before the next clause; it goes with the other fields, after the narrowing ones it has indexes for."""
    return isinstance(value, dict) and "$regex" in value


def _clauses(part: dict):
    """(key, value) pairs of one AND-ed part, descending into `$and` lists."""
    for key, value in part.items():
        if key == "$and" and isinstance(value, list) and all(isinstance(p, dict) for p in value):
            for sub in value:
                yield from _clauses(sub)
        else:
            yield key, value


def match(db: Database, spec: QuerySpec, parts: Iterable[dict | None]) -> dict:
    """The filter a listing of `spec`'s collection sends to `db`: the parts flattened, ordered by the
    collection's ranking when `db` is the embedded server, as built otherwise."""
    return flatten(list(parts), spec.narrow_first, spec.wide_last, reorder=connection.is_embedded(db))


def flatten(parts: list[dict | None], narrow_first: tuple[str, ...] = (), wide_last: tuple[str, ...] = (), *,
            reorder: bool = True) -> dict:
    """The AND of `parts` as one document. With `reorder`, keys go in the embedded server's planner order
    (see above): `_id`, `narrow_first` in its order, the other fields as built, `wide_last` in its order,
    `company`. A field matches a listed name by its whole path or its first segment."""
    fields: dict[str, Any] = {}
    rest: list[dict] = []
    for part in parts:
        if not part:
            continue
        for key, value in _clauses(part):
            if key.startswith("$"):
                rest.append({key: value})
            elif key not in fields:
                fields[key] = value
            elif fields[key] == value:
                continue
            else:
                merged = _merge(fields[key], value)
                if merged is None:
                    rest.append({key: value})
                else:
                    fields[key] = merged

    def rank(key: str) -> tuple[int, int]:
        name = key if key in narrow_first or key in wide_last else key.split(".", 1)[0]
        if name == _FIRST:
            return 0, 0
        if name in narrow_first and not _pattern(fields[key]):
            return 1, narrow_first.index(name)
        if name in wide_last:
            return 3, wide_last.index(name)
        if name == _LAST:
            return 4, 0
        return 2, 0  # sorted() is stable: the rest keep the order they were built in

    ordered = {k: _simplify(fields[k]) for k in (sorted(fields, key=rank) if reorder else fields)}
    if rest:
        ordered["$and"] = rest
    return ordered


def _merge(old: Any, new: Any) -> dict | None:
    """One field expression holding both conditions, or None when they cannot share one. A plain value is
    `{$eq: value}` (the same match on MongoDB, arrays and documents included)."""
    old = old if _operators(old) else {"$eq": old}
    new = new if _operators(new) else {"$eq": new}
    if old.keys() & new.keys() or not (set(old) | set(new)) <= _MERGEABLE:
        return None
    return {**old, **new}


def split_lead(match: dict, narrow_first: tuple[str, ...], time_field: str) -> tuple[dict, dict] | None:
    """For a filter read window by window of `time_field` on the embedded server: (lead, rest), where
    `lead` is the part an index led by its fields serves as one range once a window's time condition is
    added (the first of `narrow_first` compared to a plain string, and `company`: the indexes
    `(field, company, time, _id)` and `(company, time, _id)`), and `rest` every other clause but the time
    field's, checked on the lead's candidates. The embedded server plans only the first `$match` of a
    pipeline and checks later stages on what it returns; MongoDB merges consecutive `$match` stages
    before planning, so the split changes nothing there. None when the filter names `_id` (point reads
    serve it) or its company clause is not one value."""
    if "_id" in match or not isinstance(match.get("company"), str):
        return None
    lead = {"company": match["company"]}
    for name in narrow_first:
        if isinstance(match.get(name), str):
            lead = {name: match[name], **lead}
            break
    rest = {k: v for k, v in match.items() if k not in lead and k != time_field}
    return lead, rest
