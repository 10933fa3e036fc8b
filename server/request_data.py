"""Turns an HTTP request's body and query string into the call's data, ClearML style."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from services import errors

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


def coerce_query_value(text: str):
    """Digits with at most one '.' become numbers, true/false booleans; everything else stays text."""
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return text


def parse_query_string(query: str, object_keys: frozenset[str] = frozenset()) -> dict:
    """Repeated keys and `k[]` become lists; `a.b=x` nests into a declared object property `a`."""
    result: dict = {}
    for raw_key, raw_value in parse_qsl(query, keep_blank_values=True):
        value = coerce_query_value(raw_value)
        key = raw_key
        as_list = key.endswith("[]")
        if as_list:
            key = key[:-2]
        head, dot, rest = key.partition(".")
        target, leaf = result, key
        if dot and head in object_keys:
            target = result.setdefault(head, {})
            if not isinstance(target, dict):
                raise errors.BadRequest(f"query parameter {head!r} is both a value and an object")
            leaf = rest
        if leaf in target:
            existing = target[leaf]
            target[leaf] = (existing if isinstance(existing, list) else [existing]) + [value]
        else:
            target[leaf] = [value] if as_list else value
    check_storable(result)
    return result


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = (-(2**63), 2**63 - 1)


def _loads(raw: bytes, where: str = ""):
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise errors.BadRequest("Invalid request body: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise errors.BadRequest(
            f"Invalid request body: malformed JSON{where} ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc


def check_storable(value, path: str = "") -> None:
    """Refuses what JSON allows but a document store cannot keep: a NUL in a key, an integer beyond
    64 bits, a lone UTF-16 surrogate. Done once here so no handler meets them."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if "\x00" in key or _LONE_SURROGATE.search(key):
                raise errors.ValidationError(f"error for field {where!r}. keys must not contain NUL or lone surrogates")
            check_storable(item, where)
    elif isinstance(value, list):
        for number, item in enumerate(value):
            check_storable(item, f"{path}[{number}]")
    elif isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            raise errors.ValidationError(f"error for field {path!r}. text must not contain lone surrogates")
    elif isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        raise errors.ValidationError(f"error for field {path!r}. integers must fit in 64 bits")


def parse_json_body(raw: bytes) -> dict:
    """A JSON object; an empty body or `null` is `{}`."""
    if not raw.strip():
        return {}
    value = _loads(raw)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.BadRequest(f"Invalid request body: expected a JSON object, got a JSON {type(value).__name__}")
    check_storable(value)
    return value


def parse_json_lines(raw: bytes) -> list[dict]:
    """Batch bodies: one JSON object per line (a JSON array of objects is accepted too)."""
    text = raw.strip()
    if text.startswith(b"["):
        items = _loads(text)
    else:
        items = [
            _loads(line, f" on line {number}") for number, line in enumerate(text.splitlines(), start=1) if line.strip()
        ]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise errors.BadRequest("Invalid request body: every batch item must be a JSON object")
    check_storable(items)
    return items
