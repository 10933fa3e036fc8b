"""The hash chain of a company's entries: an entry's hash covers its fields and the previous hash, so
an entry edited, removed or inserted outside the API breaks the chain from that entry on."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

CHAINED = ("seq", "time", "company", "user", "endpoint", "version", "trx", "target", "kind", "changes")


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def entry_hash(entry: dict, seq: int, prev_hash: str) -> str:
    body = {k: entry.get(k) for k in CHAINED}
    body["seq"] = seq
    text = json.dumps({"entry": body, "prev": prev_hash}, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def verify(entries, first_seq: int, last_seq: int) -> tuple[int, int | None]:
    """Walks entries in seq order from `first_seq` (the first kept) to `last_seq` (the head): (how many
    were checked, the seq of the first that does not hold or None). The first entry kept (after
    retention) is trusted for its prev_hash."""
    checked, prev, expected_seq = 0, None, first_seq
    for entry in entries:
        seq = entry.get("seq")
        if prev is None:
            prev = entry.get("prev_hash", "")
        if expected_seq is not None and seq != expected_seq:
            return checked, expected_seq  # a missing entry: the chain breaks where it was
        checked += 1
        if entry.get("prev_hash") != prev or entry_hash(entry, seq, prev) != entry.get("hash"):
            return checked, seq
        prev, expected_seq = entry["hash"], seq + 1
    if expected_seq <= last_seq:  # entries at the end are gone
        return checked, expected_seq
    return checked, None
