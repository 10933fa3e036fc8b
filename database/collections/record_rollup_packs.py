"""Packed roll-up documents (database/collections/record_rollups_db.py): a settled day's per-hour sums
kept as JSON strings instead of nested documents, which the embedded server decodes several times
slower (a year of one model's head documents, 348 of them: ~70 ms nested, ~10 ms packed).

A packed document holds `p`, one JSON string of each hour's count and of the hours marked raw, and `pf`,
one JSON string per data path ({"HH": [n, s, lo, hi]}), so a chart decodes the counts and the one path
it shows. Packing drops the flags (`inflight`, `writes`, `stale`): only settled hours are packed. Writers
go on writing the nested `h` of a packed document, so an hour can have both: a reader adds them (sums
add, lows and highs take the lower and the higher; the flags are those of `h`). An hour recomputed from
its records replaces its value, so the recomputation also marks the hour's packed value void (`px:
{"HH": true}`); the next packing drops it.

`seal` packs what a read found: documents of a day that is over whose day has every hour settled (none
being written, none stale), each with a compare-and-set on the `h` and `px` it read, so a write in
between leaves the document nested for a later read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

SEAL_MOST = 400  # documents packed by one read: a year of one series' days, in one command
# an hour's state for a series: its sums serve it, it is marked raw (a field series reads its records),
# or it is being written or stale (read from its records)
OK, RAW, UNSETTLED = 0, 1, 2


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def packed(hours: Mapping[str, dict]) -> dict:
    """The packed fields of a document of these slots ({"HH": slot}; their flags are left out)."""
    paths: dict[str, dict] = {}
    for hh, slot in hours.items():
        for path, stats in (slot.get("f") or {}).items():
            paths.setdefault(path, {})[hh] = [stats["n"], stats["s"], stats["lo"], stats["hi"]]
    return {"p": _json({"c": {hh: slot.get("c", 0) for hh, slot in hours.items()},
                        "raw": [hh for hh, slot in hours.items() if slot.get("raw")]}),
            "pf": {path: _json(sums) for path, sums in paths.items()}}


def hours(doc: dict) -> dict[str, dict]:
    """A document's slots by hour, every path: its packed ones (less those `px` voids) with its nested
    ones added."""
    live = doc.get("h") or {}
    if not doc.get("p"):
        return live
    counts = json.loads(doc["p"])
    raw = set(counts["raw"])
    out = {hh: {"c": count, "raw": hh in raw, "f": {}} for hh, count in counts["c"].items()}
    for path, text in (doc.get("pf") or {}).items():
        for hh, (n, total, low, high) in json.loads(text).items():
            out[hh]["f"][path] = {"n": n, "s": total, "lo": low, "hi": high}
    for hh in doc.get("px") or ():
        out.pop(hh, None)
    for hh, slot in live.items():
        had = out.get(hh)
        out[hh] = slot if had is None else _slot_sum(had, slot)
    return out


def _slot_sum(packed_slot: dict, live: dict) -> dict:
    out = dict(live)
    out["c"] = packed_slot.get("c", 0) + live.get("c", 0)
    out["raw"] = bool(packed_slot.get("raw") or live.get("raw"))
    fields = dict(packed_slot.get("f") or {})
    for path, more in (live.get("f") or {}).items():
        had = fields.get(path)
        fields[path] = more if had is None else {"n": had["n"] + more["n"], "s": had["s"] + more["s"],
                                                 "lo": min(had["lo"], more["lo"]), "hi": max(had["hi"], more["hi"])}
    out["f"] = fields
    return out


def hour_values(doc: dict, key: str | None, with_values: bool = True) -> dict[str, tuple]:
    """What a series of `key` (a path key; None: counts) needs of each hour of a document, without making
    a slot of every hour (a year is 8,000 of them): {"HH": (state, value, live)}, value (count, low,
    high, sum) or None (nothing of `key` that hour, or not `with_values`), live the nested slot if any."""
    out: dict[str, tuple] = {}
    if doc.get("p"):
        counts = json.loads(doc["p"])
        void = doc.get("px") or {}
        raw = set(counts["raw"])
        sums: dict = {}
        if with_values and key is not None and key in (doc.get("pf") or {}):
            sums = json.loads(doc["pf"][key])
        for hh, count in counts["c"].items():
            if hh in void:
                continue
            value = None
            if with_values:
                if key is None:
                    value = (count, None, None, 0.0)
                elif hh in sums:
                    n, total, low, high = sums[hh]
                    value = (n, low, high, total)
            out[hh] = (RAW if hh in raw else OK, value, None)
    for hh, slot in (doc.get("h") or {}).items():
        state = UNSETTLED if slot.get("inflight") or slot.get("stale") else RAW if slot.get("raw") else OK
        value = _live_value(slot, key) if with_values else None
        had = out.get(hh)
        if had is not None:
            if state == OK:
                state = had[0]  # a packed hour marked raw stays raw
            if had[1] is not None:
                value = had[1] if value is None else _value_sum(had[1], value)
        out[hh] = (state, value, slot)
    return out


def part_values(doc: dict, key: str | None) -> dict[str, tuple]:
    """`hour_values` of a dimension's document for a series, which uses only the values (its head says
    the hours' states): a packed document without nested or void hours is read from the field's sums
    alone, without decoding its counts."""
    if key is None or not doc.get("p") or doc.get("h") or doc.get("px"):
        return hour_values(doc, key)
    packed = (doc.get("pf") or {}).get(key)
    if packed is None:
        return {}
    return {hh: (OK, (n, low, high, total), None) for hh, (n, total, low, high) in json.loads(packed).items()}


def _live_value(slot: dict, key: str | None) -> tuple | None:
    if key is None:
        return (slot.get("c", 0), None, None, 0.0)
    stats = (slot.get("f") or {}).get(key)
    return (stats["n"], stats["lo"], stats["hi"], stats["s"]) if stats else None


def _value_sum(a: tuple, b: tuple) -> tuple:
    if a[1] is None:  # counts
        return (a[0] + b[0], None, None, 0.0)
    return (a[0] + b[0], min(a[1], b[1]), max(a[2], b[2]), a[3] + b[3])


def _settled(slot: dict) -> bool:
    return not slot.get("inflight") and not slot.get("stale")


def seal(collection: Collection, docs: list[dict], today: datetime) -> int:
    """Packs those of `docs` (as read, whole) that are of a day before `today`, have nested hours, and
    whose day's head (the document of dimension "") has every hour settled; returns how many it packed."""
    heads = {doc["day"]: doc for doc in docs if doc.get("dim") == ""}
    ops = []
    for doc in docs:
        head = heads.get(doc["day"])
        if (not doc.get("h") or doc["day"] >= today or head is None
                or not all(_settled(slot) for slot in (head.get("h") or {}).values())):
            continue
        guard = {"_id": doc["_id"], "h": doc["h"], "px": doc.get("px", {"$exists": False})}
        ops.append(UpdateOne(guard, {"$set": packed(hours(doc)), "$unset": {"h": "", "px": ""}}))
        if len(ops) == SEAL_MOST:
            break
    if not ops:
        return 0
    try:
        return collection.bulk_write(ops, ordered=False).modified_count
    except OperationFailure:  # packing only saves later reads time: a refused write must not fail this one
        return 0
