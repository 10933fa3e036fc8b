"""The shape a get_all filter is sent in: one flat document whose first key is the most selective clause.

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
documents, array fields included), and orders the keys from the most to the least selective: `_id`, then
references (`project`, `parent`, `task`, ...), then other fields, then `system_tags`, and `company` last (it
holds whole tenants). A part that cannot be merged stays under `$and`, which costs a scan on the embedded
server only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# The lower, the earlier in the filter: the embedded server uses the first clause it has an index for.
_RANK = {"_id": 0, "project": 1, "parent": 1, "task": 1, "uri": 2, "name": 2, "user": 3, "tags": 4,
         "framework": 4, "status": 4, "type": 4, "system_tags": 6, "company": 7}
_DEFAULT_RANK = 5
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


def _clauses(part: dict):
    """(key, value) pairs of one AND-ed part, descending into `$and` lists."""
    for key, value in part.items():
        if key == "$and" and isinstance(value, list) and all(isinstance(p, dict) for p in value):
            for sub in value:
                yield from _clauses(sub)
        else:
            yield key, value


def flatten(parts: list[dict | None], narrow_first: tuple[str, ...] = ()) -> dict:
    """The AND of `parts` as one document, keys ordered for the embedded server's planner (see above);
    fields in `narrow_first` (a collection's own knowledge of what narrows most) come right after `_id`."""
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
        if key in narrow_first:
            return 0, 1 + narrow_first.index(key)  # after `_id`, before every other field
        return _RANK.get(key.split(".", 1)[0], _DEFAULT_RANK), 0

    ordered = {k: _simplify(fields[k]) for k in sorted(fields, key=rank)}
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
