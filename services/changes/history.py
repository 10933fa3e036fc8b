"""What an object looked like at a past time, rebuilt from the change log (models.get_at).

Forward from the entry that created it when the log reaches back that far: the creation entry holds
the whole document, each update its written fields. Otherwise backwards from today's document, undoing
each later change whose before values the log holds (a change recorded without them leaves today's
value in place, which the reply says with `from_log: false`).
"""

from __future__ import annotations

import copy
from datetime import datetime


def _set_path(doc: dict, path: str, value, unset: bool = False) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        nxt = doc.get(part)
        if not isinstance(nxt, dict):
            if unset:
                return
            nxt = doc[part] = {}
        doc = nxt
    if unset:
        doc.pop(parts[-1], None)
    else:
        doc[parts[-1]] = value


def apply_after(doc: dict, after: dict | None) -> None:
    """Applies what an update entry wrote: `$set` fields, `$unset:` and `$inc:` ones; other operators
    (pushes to histories) are left out."""
    for key, value in (after or {}).items():
        op, _, path = key.rpartition(":")
        if not op:
            _set_path(doc, key, copy.deepcopy(value))
        elif op == "$unset":
            _set_path(doc, path, None, unset=True)
        elif op == "$inc":
            current = doc
            for part in path.split(".")[:-1]:
                current = current.get(part) if isinstance(current, dict) else None
            old = current.get(path.split(".")[-1], 0) if isinstance(current, dict) else 0
            _set_path(doc, path, (old or 0) + value)


def rebuild(log, target_id: str, at: datetime, today: dict | None) -> tuple[dict | None, bool]:
    """(the document as it was at `at` or None, whether the log reached back to its creation)."""
    entries = log.history([target_id], at)
    created = max((n for n, e in enumerate(entries) if e.get("op") == "created"), default=None)
    if created is not None:
        doc = copy.deepcopy((entries[created].get("changes") or {}).get("after") or {})
        for entry in entries[created + 1:]:
            if entry.get("op") == "deleted":
                doc = None
            elif doc is not None and entry.get("op") == "updated":
                apply_after(doc, (entry.get("changes") or {}).get("after"))
        return doc, True
    if today is None:
        return None, False
    doc = copy.deepcopy(today)
    for entry in log.since([target_id], at):  # newest first
        before = (entry.get("changes") or {}).get("before")
        if entry.get("op") == "created":
            return None, True
        for key, value in (before or {}).items():
            _set_path(doc, key, copy.deepcopy(value), unset=value is None)
    return doc, False


def alias_target(log, registered_id: str, alias: str, at: datetime) -> str | None:
    """The model `alias` of a registered model named at `at`, from the alias moves logged up to then."""
    target = None
    for entry in log.history([registered_id], at):
        after = (entry.get("changes") or {}).get("after") or {}
        if isinstance(after.get("aliases"), dict):
            target = after["aliases"].get(alias)
        if f"aliases.{alias}" in after:
            target = after[f"aliases.{alias}"]
        if f"$unset:aliases.{alias}" in after:
            target = None
    return target
