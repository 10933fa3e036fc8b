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
    return result


def parse_json_body(raw: bytes) -> dict:
    """A JSON object; an empty body or `null` is `{}`."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise errors.BadRequest("Invalid request body: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise errors.BadRequest(
            f"Invalid request body: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.BadRequest(f"Invalid request body: expected a JSON object, got a JSON {type(value).__name__}")
    return value


def parse_json_lines(raw: bytes) -> list[dict]:
    """Batch bodies: one JSON object per line (a JSON array of objects is accepted too)."""
    text = raw.strip()
    if text.startswith(b"["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise errors.BadRequest(f"Invalid request body: malformed JSON ({exc.msg})") from exc
    else:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise errors.BadRequest(f"Invalid request body: malformed JSON on line {number} ({exc.msg})") from exc
    if not all(isinstance(item, dict) for item in items):
        raise errors.BadRequest("Invalid request body: every batch item must be a JSON object")
    return items
