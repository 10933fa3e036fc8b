"""A change-log entry as clients see it (change feed, webhook bodies)."""

from __future__ import annotations

from datetime import datetime, timezone

PUBLIC_FIELDS = ("seq", "time", "user", "company", "endpoint", "version", "trx", "target", "kind", "changes")


def _iso(when) -> str | None:
    if not isinstance(when, datetime):
        return when
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def public_entry(doc: dict) -> dict:
    """{seq, time (ISO 8601, Z), user, company, endpoint, version, trx, target, kind, changes}."""
    entry = {name: doc.get(name) for name in PUBLIC_FIELDS}
    entry["time"] = _iso(entry["time"])
    return entry
