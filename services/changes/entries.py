"""The API shape of change-log entries (audit, the change feed, webhooks)."""

from __future__ import annotations

from datetime import datetime


def iso(value) -> str | None:
    if not isinstance(value, datetime):
        return None
    text = value.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if text.endswith("+00:00") else text + "Z"


def plain(value):
    """Stored values as JSON can carry them (times as ISO 8601 strings)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def public_entry(doc: dict) -> dict:
    target = doc.get("target") or {}
    return {
        "seq": doc.get("seq"), "time": iso(doc.get("time")), "user": doc.get("user", ""),
        "company": doc.get("company", ""), "endpoint": doc.get("endpoint", ""), "version": doc.get("version", ""),
        "trx": doc.get("trx", ""), "target": {"type": target.get("type", ""), "id": target.get("id"),
                                              "name": target.get("name", "")},
        "kind": doc.get("kind", ""), "changes": plain(doc.get("changes") or {}),
    }
