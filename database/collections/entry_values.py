"""What a change-log entry says about a change: the values an update writes, the old values it replaces,
the target's name, with secrets redacted and sizes bounded (database/collections/recording.py makes the
entries)."""

from __future__ import annotations

from typing import Any

import bson

# stored fields that never reach the log, whatever the resource (credentials' digests, tokens)
SECRET_FIELDS = frozenset({"digest", "salt", "secret_key", "secret", "password", "password_hash", "token",
                           "refresh_token", "access_token"})
# fields that name a target, in the order they are tried
_NAME_FIELDS = ("name", "user_name", "label")


def redact(values: dict | None) -> dict | None:
    if values is None:
        return None
    return {k: ("<secret>" if k.split(".")[-1] in SECRET_FIELDS else v) for k, v in values.items()}


def bounded(values: dict | None, limit: int) -> dict | None:
    """`values` with its largest fields replaced by a note of their size until it fits `limit` bytes."""
    if values is None or limit <= 0:
        return values
    try:
        sizes = {k: len(bson.encode({"v": v})) for k, v in values.items()}
    except (bson.errors.BSONError, TypeError, OverflowError, ValueError):
        return {k: {"omitted": True} for k in values}
    total = sum(sizes.values())
    out = dict(values)
    for key in sorted(sizes, key=sizes.get, reverse=True):
        if total <= limit:
            break
        out[key] = {"omitted": True, "bytes": sizes[key]}
        total -= sizes[key]
    return out


def update_values(update: dict | list) -> dict:
    """What an update writes, field by field: `$set` values as they are, other operators as `op:field`."""
    if isinstance(update, list):
        values: dict = {}
        for stage in update:
            for op, fields in stage.items():
                if isinstance(fields, dict):
                    plain = op in ("$set", "$addFields")
                    values.update(fields if plain else {f"{op}:{k}": v for k, v in fields.items()})
        return values
    values = {}
    for op, fields in update.items():
        if not isinstance(fields, dict):
            continue
        if op == "$set":
            values.update(fields)
        elif op != "$setOnInsert":
            values.update({f"{op}:{k}": v for k, v in fields.items()})
    return values


def before_of(doc: dict | None, after: dict) -> dict | None:
    if doc is None:
        return None
    out = {}
    for key in after:
        path = key.split(":", 1)[-1]
        value: Any = doc
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out[path if ":" in key else key] = value
    return out


def name_of(*docs: dict | None) -> str:
    for doc in docs:
        for key in _NAME_FIELDS:
            if doc and isinstance(doc.get(key), str):
                return doc[key]
    return ""
