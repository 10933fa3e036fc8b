"""The JSON text the server writes: reply envelopes, NDJSON lines and the call log's lines, one encoder.

orjson writes it: the standard library's encoder cost a fifth of the worker CPU of a page of 100 models
(docs/request-overhead.md). What orjson refuses (an integer past 64 bits, nesting past 254 levels) goes
through the standard library's encoder with the same rules. Either way the text is compact UTF-8;
datetimes are ISO 8601 with their offset (a naive one is read as UTC), dates ISO, sets and tuples lists,
bytes text. NaN and the infinities, which JSON cannot carry, are written as null by orjson; the fallback
refuses them (ValueError).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import orjson

# What encoding raises for a value it cannot write as valid JSON: nesting too deep, a type it does not know
# (orjson.JSONEncodeError is a TypeError), NaN in the fallback.
UNENCODABLE = (ValueError, RecursionError, TypeError)
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC


def _default(value):
    """What neither encoder writes by itself."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):  # the fallback's only: orjson writes datetimes and dates itself
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _as_text(value):
    """The call log's rule: anything else is written as its str()."""
    try:
        return _default(value)
    except TypeError:
        return str(value)


_FALLBACK = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default)
_FALLBACK_TEXT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_as_text)


def encode(value) -> bytes:
    """`value` as JSON; raises one of UNENCODABLE when it cannot be written."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _FALLBACK.encode(value).encode()


def encode_any(value) -> bytes:
    """`value` as JSON, what JSON has no form for written as its str() (log lines, never a reply)."""
    try:
        return orjson.dumps(value, default=_as_text, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _FALLBACK_TEXT.encode(value).encode()
