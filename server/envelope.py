"""The ClearML reply envelope and its JSON rendering."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

from services.call import Version, format_version


def new_call_id() -> str:
    return uuid.uuid4().hex


def _json_default(value):
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value) -> bytes:
    """Compact JSON with non-ASCII escaped, datetimes as ISO 8601 with offset."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=_json_default).encode()


def _version_text(version: Version | None):
    return format_version(version) if version is not None else None


def build(
    *,
    call_id: str,
    trx: str,
    endpoint: str,
    requested: Version | None,
    actual: Version | None,
    code: int = 200,
    subcode: int = 0,
    msg: str = "OK",
    data: dict | None = None,
    error_data: dict | None = None,
) -> dict:
    return {
        "meta": {
            "id": call_id,
            "trx": trx or call_id,
            "endpoint": {
                "name": endpoint,
                "requested_version": _version_text(requested),
                "actual_version": _version_text(actual),
            },
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
            "error_data": error_data or {},
        },
        "data": data if data is not None else {},
    }
