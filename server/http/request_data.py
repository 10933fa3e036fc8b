"""Turns an HTTP request's body and query string into the call's data, ClearML style."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from server.contract.request_values import NO_QUERY_FIELDS, TEXT, VALUE, QueryFields
from services import errors
from services.call import BodyLine

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


def coerce_query_value(text: str):
    """The query text of an undeclared or untyped field, by its shape: digits with at most one '.' become
    numbers, true/false booleans; everything else stays text."""
    if _NUMBER.match(text):
        return float(text) if "." in text else _bounded_int(text)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return text


def typed_query_value(text: str, name: str, limits: Limits):
    """The query text of a field the schema types as something other than a string: a number, a boolean,
    else JSON (null, a list, an object), else the text for the schema to judge."""
    if _INTEGER.fullmatch(text):
        return _bounded_int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)  # 1e999 is infinity, which check_storable refuses naming the field
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    try:
        return _decode(text)
    except ValueError:  # JSONDecodeError included
        return text
    except RecursionError as exc:
        raise _field_error(name, f"nested deeper than {limits.max_depth} levels") from exc


def parse_query_string(query: str, fields: QueryFields = NO_QUERY_FIELDS, limits: Limits | None = None) -> dict:
    """Repeated keys and `k[]` become lists; `a.b=x` nests into a declared object property `a`. Each value
    is typed by the request schema (`fields`): a field that may be a string keeps the text sent, another
    is read by `typed_query_value`, an undeclared or untyped one by `coerce_query_value`. Percent-escapes
    that are not UTF-8 are refused naming the field (never stored as U+FFFD)."""
    limits = limits or DEFAULT_LIMITS
    result: dict = {}
    for raw_key, raw_value in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
        key = raw_key
        as_list = key.endswith("[]")
        if as_list:
            key = key[:-2]
        head, dot, rest = key.partition(".")
        target, leaf, within = result, key, None
        if dot and head in fields.objects:
            target = result.setdefault(head, {})
            if not isinstance(target, dict):
                raise errors.BadRequest(f"query parameter {head!r} is both a value and an object")
            leaf, within = rest, head
        if _LONE_SURROGATE.search(raw_key) or _LONE_SURROGATE.search(raw_value):
            shown = raw_key.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise _field_error(shown, "not UTF-8 text")
        kind = fields.kind(leaf, within)
        value = (raw_value if kind == TEXT else typed_query_value(raw_value, key, limits) if kind == VALUE
                 else coerce_query_value(raw_value))
        if leaf in target:
            existing = target[leaf]
            target[leaf] = (existing if isinstance(existing, list) else [existing]) + [value]
        else:
            target[leaf] = [value] if as_list else value
    check_storable(result, limits)
    return result


def text_of(name: str, raw: bytes) -> str:
    """A value that came as bytes (a multipart form field) as text; bytes that are not UTF-8 are refused
    naming the field, as a JSON body that is not UTF-8 is refused, instead of being stored as U+FFFD."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _field_error(name, "not UTF-8 text") from None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = (-(2**63), 2**63 - 1)
_INT_DIGITS = 20  # more digits than any 64-bit integer has (sign included)


def _bounded_int(text: str) -> int:
    """An integer of JSON or query text; one longer than any 64-bit integer stands for itself as the
    first value beyond 64 bits, which check_storable refuses naming its field. Python refuses to convert
    strings of more than 4300 digits at all (ValueError), and converting long ones costs quadratic time."""
    if len(text) <= _INT_DIGITS:
        return int(text)
    return _INT64[0] - 1 if text.startswith("-") else _INT64[1] + 1
_PATH_SHOWN = 120  # characters of a field path quoted in an error


@dataclass(frozen=True)
class Limits:
    """What one request may hold (config keys in parentheses). Checked here, once, for every endpoint,
    so that no stored document can be one the database or a later reply cannot handle."""

    max_depth: int = 64  # nesting of objects and arrays in the whole body (server.max_json_depth)
    max_field_bytes: int = 4 * 1024 * 1024  # JSON size of one top-level field (server.max_field_bytes)
    max_items: int = 1000  # items of a top-level array, e.g. `ids` (query.max_ids)

    @classmethod
    def from_config(cls, config) -> Limits:
        if config is None:
            return cls()
        return cls(
            max_depth=int(config.get("server.max_json_depth", cls.max_depth)),
            max_field_bytes=int(config.get("server.max_field_bytes", cls.max_field_bytes)),
            max_items=int(config.get("query.max_ids", cls.max_items)),
        )


DEFAULT_LIMITS = Limits()


def _field_error(path: str, text: str) -> errors.ApiError:
    shown = path if len(path) <= _PATH_SHOWN else path[:_PATH_SHOWN] + "..."
    return errors.ValidationError(f"error for field {shown or '(body)'!r}. {text}")


def _decode(raw: bytes | str):
    """json.loads; only when a number is too long for Python to convert (a ValueError inside the
    scanner) is the text decoded again with the bounded integer reader, so that the check names the
    field. The fast path keeps the C scanner's own integer conversion."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except ValueError:
        return json.loads(raw, parse_int=_bounded_int)


def _loads(raw: bytes, limits: Limits, where: str = ""):
    try:
        return _decode(raw)
    except UnicodeDecodeError as exc:
        raise errors.BadRequest("Invalid request body: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise errors.BadRequest(
            f"Invalid request body: malformed JSON{where} ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except RecursionError as exc:  # far deeper than any limit: the parser gave up before we could look
        raise _field_error("", f"nested deeper than {limits.max_depth} levels") from exc


def _walk(value, path: str, depth: int, limits: Limits) -> int:
    """Checks one value and returns the size of its JSON text, roughly (within a few bytes per item)."""
    if isinstance(value, dict):
        if depth >= limits.max_depth:
            raise _field_error(path, f"nested deeper than {limits.max_depth} levels")
        size = 2
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if "\x00" in key or _LONE_SURROGATE.search(key):
                raise _field_error(where, "keys must not contain NUL or lone surrogates")
            size += len(key) + 4 + _walk(item, where, depth + 1, limits)
        return size
    if isinstance(value, list):
        if depth >= limits.max_depth:
            raise _field_error(path, f"nested deeper than {limits.max_depth} levels")
        return 2 + sum(_walk(item, f"{path}[{number}]", depth + 1, limits) + 1 for number, item in enumerate(value))
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            raise _field_error(path, "text must not contain lone surrogates")
        return len(value) + 2
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise _field_error(path, "integers must fit in 64 bits")
        return 20
    if isinstance(value, float) and not math.isfinite(value):
        raise _field_error(path, "NaN and Infinity are not numbers JSON can carry")
    return 24


def check_storable(value: dict | list, limits: Limits = DEFAULT_LIMITS, path: str = "") -> None:
    """Refuses what JSON allows but a document store (or a later JSON reply) cannot keep: a NUL in a
    key, an integer beyond 64 bits, a lone UTF-16 surrogate, NaN or Infinity, nesting beyond
    `max_depth`, a top-level field larger than `max_field_bytes` or an array longer than `max_items`.
    Done once here so no handler meets them, and no free-form field (design, labels, metadata,
    configuration, ...) can be stored in a shape a listing could not send back."""
    items = value.items() if isinstance(value, dict) else ((f"[{n}]", item) for n, item in enumerate(value))
    for key, item in items:
        where = f"{path}{key}" if isinstance(value, list) else (f"{path}.{key}" if path else key)
        if isinstance(value, dict) and ("\x00" in key or _LONE_SURROGATE.search(key)):
            raise _field_error(where, "keys must not contain NUL or lone surrogates")
        if isinstance(item, list) and len(item) > limits.max_items:
            raise _field_error(where, f"at most {limits.max_items} items are accepted in one call, got {len(item)}")
        if _walk(item, where, 1, limits) > limits.max_field_bytes:
            raise _field_error(where, f"larger than {limits.max_field_bytes} bytes")


def parse_json_body(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> dict:
    """A JSON object; an empty body or `null` is `{}`."""
    if not raw.strip():
        return {}
    value = _loads(raw, limits)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise errors.BadRequest(f"Invalid request body: expected a JSON object, got a JSON {type(value).__name__}")
    check_storable(value, limits)
    return value


def parse_form_fields(fields: dict[str, str], request_schema: dict, limits: Limits = DEFAULT_LIMITS) -> dict:
    """Multipart form fields (always text) as the request's declared types: a property that may be a
    string stays text; any other (`data`, `info`, numbers, lists) is read as JSON when it is JSON, else
    kept as text (the schema then judges it). The result passes the same checks as a JSON body."""
    properties = request_schema.get("properties") or {}
    out: dict = {}
    for name, text in fields.items():
        declared = (properties.get(name) or {}).get("type")
        if declared == "string" or (isinstance(declared, list) and "string" in declared):
            out[name] = text
        else:
            out[name] = typed_query_value(text, name, limits)
    check_storable(out, limits)
    return out


def parse_json_lines(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> list[dict]:
    """Batch bodies: one JSON object per line (a JSON array of objects is accepted too)."""
    text = raw.strip()
    if text.startswith(b"["):
        items = _loads(text, limits)
    else:
        items = [
            _loads(line, limits, f" on line {number}")
            for number, line in enumerate(text.splitlines(), start=1) if line.strip()
        ]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise errors.BadRequest("Invalid request body: every batch item must be a JSON object")
    # Batch lines are events and their arrays are data (plots, histograms): only max_json_body bounds
    # how many there are and how long their arrays get; depth, numbers and keys are checked as anywhere.
    item_limits = replace(limits, max_items=limits.max_field_bytes)
    for number, item in enumerate(items):
        check_storable(item, item_limits, f"[{number}]")
    return items


LINE_CHUNK = 256 * 1024  # bytes read from the client at a time


def _checked_line(number: int, raw: bytes | list | dict, limits: Limits,
                  check: Callable[[dict], str | None]) -> BodyLine:
    """One line (its bytes, or an item of a JSON list) passed through the checks of a request body."""
    try:
        item = _loads(raw, limits) if isinstance(raw, bytes) else raw
        if not isinstance(item, dict):
            return BodyLine(number, None, f"expected a JSON object, got a JSON {type(item).__name__}")
        check_storable(item, limits)
    except errors.ApiError as exc:
        return BodyLine(number, None, exc.message)
    problem = check(item)
    return BodyLine(number, None, problem) if problem else BodyLine(number, item, None)


def json_lines(stream, limits: Limits, check: Callable[[dict], str | None], content_length: int | None,
               max_line: int) -> Iterator[BodyLine]:
    """A JSON-lines body read as the client sends it, one checked line at a time: a bad line is refused on
    its own and never stops the lines after it. A body whose first character is `[` is a JSON list
    instead, read whole (at most `max_line` bytes) and checked item by item. A line longer than
    `max_line` is refused without being held. Blank lines are skipped (and counted)."""
    remaining = content_length

    def chunks() -> Iterator[bytes]:
        nonlocal remaining
        while stream is not None and (remaining is None or remaining > 0):
            chunk = stream.read(LINE_CHUNK if remaining is None else min(LINE_CHUNK, remaining))
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk

    source = chunks()
    first = b""
    for chunk in source:
        first += chunk
        if first.strip():
            break
    if first.lstrip().startswith(b"["):
        parts, size = [], 0
        for chunk in _prepend(first, source):
            size += len(chunk)
            if size > max_line:
                raise errors.RequestTooLarge("a JSON list body is read whole; send JSON lines instead", limit=max_line)
            parts.append(chunk)
        items = _loads(b"".join(parts), limits)
        if not isinstance(items, list):
            raise errors.BadRequest("Invalid request body: expected JSON lines or a JSON list")
        for number, item in enumerate(items, start=1):
            yield _checked_line(number, item, limits, check)
        return
    number, pending, size, oversize = 0, [], 0, False
    for chunk in _prepend(first, source):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not oversize:
                size += len(piece)
                if size > max_line:
                    oversize, pending = True, []
                else:
                    pending.append(piece)
            if end < 0:
                break
            number += 1
            line = _line_result(number, pending, oversize, max_line, limits, check)
            if line is not None:
                yield line
            pending, size, oversize, start = [], 0, False, end + 1
    if pending or oversize:
        line = _line_result(number + 1, pending, oversize, max_line, limits, check)
        if line is not None:
            yield line


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def _line_result(number, pending, oversize, max_line, limits, check) -> BodyLine | None:
    if oversize:
        return BodyLine(number, None, f"line longer than {max_line} bytes")
    raw = b"".join(pending).strip()
    return _checked_line(number, raw, limits, check) if raw else None
