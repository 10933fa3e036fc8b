"""Tags as clients before API 2.3 see them: one `tags` list that also holds the system tags.

ClearML keeps system tags apart from 2.3 on. A request below 2.3 that sends `tags` (and no
`system_tags`) has its system tags moved to `system_tags`, both when writing and when filtering
(`tags: ["-archived"]` then excludes archived entities); replies below 2.3 show `tags` with the system
tags merged in. A write below 2.3 that sends `tags` replaces both lists. A plain helper shared by
the models, tasks and projects handlers.
"""

from __future__ import annotations

from services.call import Call

SPLIT_BELOW = (2, 3)
# The system tags of that era, per kind of entity.
MODEL_SYSTEM_TAGS = frozenset({"archived"})
PROJECT_SYSTEM_TAGS = frozenset({"archived"})
TASK_SYSTEM_TAGS = frozenset({"archived", "development"})


def legacy(call: Call) -> bool:
    return call.requested_version < SPLIT_BELOW


def _is_system(term, system: frozenset[str]) -> bool:
    return isinstance(term, str) and term.lstrip("-") in system


def split_request_tags(call: Call, data: dict, system: frozenset[str]) -> None:
    """Below 2.3, moves the system tags (or `-tag` filter terms) found in `tags` to `system_tags`,
    in place; a `tags` left empty is dropped."""
    tags = data.get("tags")
    if not legacy(call) or not isinstance(tags, list) or data.get("system_tags"):
        return
    moved = [t for t in tags if _is_system(t, system)]
    if not moved:
        return
    data["system_tags"] = moved
    kept = [t for t in tags if not _is_system(t, system)]
    if kept:
        data["tags"] = kept
    else:
        data.pop("tags")


def split_written_tags(call: Call, data: dict, system: frozenset[str]) -> None:
    """Below 2.3, a write that sends `tags` (and no `system_tags`) sets both lists, in place: the
    client sees one list, so a system tag it leaves out is removed, as ClearML does."""
    tags = data.get("tags")
    if not legacy(call) or not isinstance(tags, list) or data.get("system_tags"):
        return
    data["system_tags"] = [t for t in tags if _is_system(t, system)]
    data["tags"] = [t for t in tags if not _is_system(t, system)]


def merge_reply_tags(call: Call, doc: dict) -> dict:
    """Below 2.3, `tags` shows the system tags too (sorted)."""
    if legacy(call) and doc.get("system_tags"):
        doc["tags"] = sorted(set(doc.get("tags") or []) | set(doc["system_tags"]))
    return doc
