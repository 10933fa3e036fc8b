"""Metadata keys as stored: MongoDB field names cannot hold `.` or start with `$`, so keys are escaped.

A key is trimmed, then `%`→`%%`, `.`→`%2E`, `$`→`%24`, `__`→`%_%_` and a leading `_`→`%_` (ClearML's rules).
Unescaping reads the `%` sequences left to right, so every escaped key maps back to exactly one key.
"""

from __future__ import annotations

from database.errors import QueryError, UnknownFieldError

METADATA = "metadata"
_UNESCAPES = {"%%": "%", "%2E": ".", "%24": "$", "%_": "_"}


def escape_key(key: str, field: str = METADATA) -> str:
    key = key.strip() if isinstance(key, str) else ""
    if not key:
        raise QueryError("metadata key must be a non-empty string", field=field)
    key = key.replace("%", "%%").replace(".", "%2E").replace("$", "%24").replace("__", "%_%_")
    return "%_" + key[1:] if key.startswith("_") else key


def unescape_key(key: str) -> str:
    if "%" not in key:  # every escape sequence starts with %; most keys have none (a page renders one per model)
        return key
    out, i = [], 0
    while i < len(key):
        for seq, char in _UNESCAPES.items():
            if key.startswith(seq, i):
                out.append(char)
                i += len(seq)
                break
        else:
            out.append(key[i])
            i += 1
    return "".join(out)


def unescape_metadata(metadata: dict | None) -> dict | None:
    if not isinstance(metadata, dict):
        return metadata
    if "%" not in "".join(metadata):  # no key escaped: a page renders one per model, most have none
        return dict(metadata)
    return {unescape_key(k): v for k, v in metadata.items()}


def is_metadata_path(path: str) -> bool:
    return path.startswith(METADATA + ".")


def escape_path(path: str) -> str:
    """`metadata.<key>[.<part>]` as sent (a `.` inside the key sent as `%2E`) → the stored field path."""
    parts = path.split(".")
    if parts[0] != METADATA or not 2 <= len(parts) <= 3 or not all(parts[1:]):
        raise UnknownFieldError("invalid metadata path", field=path)
    key = escape_key(parts[1].replace("%2E", "."), field=path)
    return ".".join([METADATA, key, *parts[2:]])
