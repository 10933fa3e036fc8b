"""Roll-ups of records per hour, kept as records are written, so that records.get_series reads a few
hundred small documents instead of aggregating every record (45-70 us a record on the embedded server).

Collection `record_rollups`, one document per company, model, day (UTC) and dimension value:
`{_id, company, model, day, dim, value, h: {"HH": slot}}`. `dim` is "" (every record of the model: the
"head") or one of DIMENSIONS with `value` the record's value of that field. A slot holds the hour's
`c` (records), `f: {path: {n, s, lo, hi}}` (numeric values of each data path: count, sum, min, max) and
`raw: true` when some record of the hour has more paths than MAX_PATHS or a value that is not finite
(that hour's field series is then read from the records). A path is a data key path whose keys each
match records.get_series' field pattern, joined with ":".

Keeping them right under concurrent writers, with no transaction (the head's slot carries the flags):
- every write of records first adds 1 to `inflight` of each hour it touches, then writes the records,
  then (adds) adds its sums to the dimension slots and the head's, with `inflight` -1 and `writes` +1,
  or (edits, deletes) only `inflight` -1, `writes` +1 and `stale: true`: a deleted value cannot be taken
  out of a minimum;
- a reader takes an hour from its slots only when the head's slot has `inflight` 0 and is not stale;
  any other hour it aggregates from the records themselves (the answer is the same);
- a stale hour is recomputed from its records by a reader and written back only if the head's slot
  still has the `writes` and `inflight` 0 it read first, so a write in between leaves it stale.
A writer that dies between its two steps leaves `inflight` above 0: that hour is then always read from
its records (correct, only slower).

Settled days are packed into JSON strings by the reads that find them (record_rollup_packs.py): the
embedded server decodes nested documents several times slower, and a chart reads every day of its span.

These are internal bookkeeping, written through the database handle and never through a scoped
collection: they produce no change-log entries (database/collections/recording.py logs writes of
resource collections only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database

from database import clock, connection
from database.collections import hour_spans as spans
from database.collections import record_rollup_months as months
from database.collections import record_rollup_packs as packs

ROLLUPS = "record_rollups"
# A roll-up write a crash loses leaves what readers already handle: a writer's `inflight` +1 without its
# second step (the hour read from its records, as above), or a day not packed or an hour not recomputed.
# So a call needs no journal flush for them: a records.add ends with its journaled change-log entry.
# (The journal is one sequence: the `inflight` +1, written before the records, is on disk with them.)
connection.needs_no_flush(ROLLUPS)
HOUR = timedelta(hours=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000  # UTC days are whole multiples of it in epoch milliseconds
DIMENSIONS = ("experiment", "season", "site", "dataset")
MAX_PATHS = 32  # numeric paths rolled up per record; a record with more marks its hour `raw`
MAX_DEPTH = 10
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
SEP = ":"


def ensure_indexes(db: Database) -> None:
    # get_series: one model's days in a range, for the head or one dimension value
    db[ROLLUPS].create_index([("company", ASCENDING), ("model", ASCENDING), ("dim", ASCENDING),
                              ("value", ASCENDING), ("day", ASCENDING)])
    months.ensure_indexes(db)


def path_key(field: str) -> str:
    """The slot key of a get_series field ("scores.f1" -> "scores:f1")."""
    return field.replace(".", SEP)


def numeric_paths(data) -> tuple[dict[str, float], bool]:
    """{path key: value} of the numeric leaves of `data` reachable through objects (what `$data.<path>`
    of an aggregation finds as a number), and whether the record must mark its hour raw."""
    out: dict[str, float] = {}
    raw = False
    stack = [((), data)] if isinstance(data, dict) else []
    while stack:
        prefix, node = stack.pop()
        for key, value in node.items():
            if not isinstance(key, str) or not _KEY.match(key):
                continue
            path = (*prefix, key)
            if isinstance(value, dict):
                if len(path) < MAX_DEPTH:
                    stack.append((path, value))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                if isinstance(value, float) and not math.isfinite(value):
                    raw = True
                    continue
                out[SEP.join(path)] = value
    if len(out) > MAX_PATHS:
        return {}, True
    return out, raw


def hour_of(when: datetime) -> datetime:
    when = clock.as_utc(when).astimezone(timezone.utc)
    return when.replace(minute=0, second=0, microsecond=0)


def _day(hour: datetime) -> datetime:
    return clock.start_of_day(hour.date())


def _id(company: str, model: str, day: datetime, dim: str, value: str) -> str:
    return months.doc_id(company, model, day.date().isoformat(), dim, value)


def _doc_key(company: str, model: str, day: datetime, dim: str, value: str) -> dict:
    return {"company": company, "model": model, "day": day, "dim": dim, "value": value}


class Slot:
    """One hour's sums of some records."""

    def __init__(self) -> None:
        self.count = 0
        self.fields: dict[str, list] = {}  # path -> [n, s, lo, hi]
        self.raw = False

    def add(self, paths: Mapping[str, float], raw: bool) -> None:
        self.count += 1
        self.raw = self.raw or raw
        for path, value in paths.items():
            stats = self.fields.get(path)
            if stats is None:
                self.fields[path] = [1, float(value), value, value]
            else:
                stats[0] += 1
                stats[1] += float(value)
                stats[2] = min(stats[2], value)
                stats[3] = max(stats[3], value)

    def as_doc(self) -> dict:
        return {"c": self.count, "raw": self.raw,
                "f": {p: {"n": n, "s": s, "lo": lo, "hi": hi} for p, (n, s, lo, hi) in self.fields.items()}}

    def increments(self, prefix: str) -> dict:
        """The update adding these sums to the slot at `prefix` ("h.HH")."""
        inc: dict = {f"{prefix}.c": self.count}
        low: dict = {}
        high: dict = {}
        for path, (n, s, lo, hi) in self.fields.items():
            inc[f"{prefix}.f.{path}.n"] = n
            inc[f"{prefix}.f.{path}.s"] = s
            low[f"{prefix}.f.{path}.lo"] = lo
            high[f"{prefix}.f.{path}.hi"] = hi
        update: dict = {"$inc": inc}
        if low:
            update["$min"], update["$max"] = low, high
        if self.raw:
            update["$set"] = {f"{prefix}.raw": True}
        return update


def slots_of(docs: Iterable[dict]) -> dict[tuple[str, datetime, str, str], Slot]:
    """{(model, hour, dim, value): Slot} of records (each with model, timestamp, data and dimensions)."""
    out: dict[tuple[str, datetime, str, str], Slot] = {}
    for doc in docs:
        hour = hour_of(doc["timestamp"])
        paths, raw = numeric_paths(doc.get("data"))
        keys = [(doc["model"], hour, "", "")]
        keys += [(doc["model"], hour, dim, doc[dim]) for dim in DIMENSIONS if isinstance(doc.get(dim), str)]
        for key in keys:
            slot = out.get(key)
            if slot is None:
                slot = out[key] = Slot()
            slot.add(paths, raw)
    return out


def _slot_path(hour: datetime) -> str:
    return f"h.{hour.hour:02d}"


def begin(db: Database, company: str, hours: Iterable[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    """Marks these (model, hour) as being written (first step of every write of records)."""
    hours = sorted(set(hours))
    if hours:
        months.bump(db, company, hours)  # first: a settled month's packs are stale from here on
        db[ROLLUPS].bulk_write([
            UpdateOne({"_id": _id(company, model, _day(hour), "", "")},
                      {"$inc": {f"{_slot_path(hour)}.inflight": 1},
                       "$setOnInsert": _doc_key(company, model, _day(hour), "", "")}, upsert=True)
            for model, hour in hours], ordered=False)
    return hours


def added(db: Database, company: str, slots: Mapping[tuple[str, datetime, str, str], Slot]) -> None:
    """Adds the sums of newly stored records (second step of an add): the dimensions first, the heads
    last (their `inflight` -1 is what lets readers use the hour again)."""
    ops, heads = [], []
    for (model, hour, dim, value), slot in slots.items():
        day, prefix = _day(hour), _slot_path(hour)
        update = slot.increments(prefix)
        update["$setOnInsert"] = _doc_key(company, model, day, dim, value)
        if not dim:
            update["$inc"].update({f"{prefix}.inflight": -1, f"{prefix}.writes": 1})
            heads.append(UpdateOne({"_id": _id(company, model, day, "", "")}, update, upsert=True))
        else:
            ops.append(UpdateOne({"_id": _id(company, model, day, dim, value)}, update, upsert=True))
    if ops or heads:
        db[ROLLUPS].bulk_write([*ops, *heads], ordered=True)


def changed(db: Database, company: str, hours: Iterable[tuple[str, datetime]]) -> None:
    """Second step of an edit or a delete (or of an add that failed): the hours are stale."""
    hours = sorted(set(hours))
    if hours:
        db[ROLLUPS].bulk_write([
            UpdateOne({"_id": _id(company, model, _day(hour), "", "")},
                      {"$inc": {f"{_slot_path(hour)}.inflight": -1, f"{_slot_path(hour)}.writes": 1},
                       "$set": {f"{_slot_path(hour)}.stale": True},
                       "$setOnInsert": _doc_key(company, model, _day(hour), "", "")}, upsert=True)
            for model, hour in hours], ordered=False)


def forget(db: Database, company: str, model: str) -> None:
    months.forget(db, company, model)
    db[ROLLUPS].delete_many({"company": company, "model": model})


def read(db: Database, company: str, model: str, dim: str, values: list[str], first: datetime, last: datetime
         ) -> tuple[dict[datetime, dict], dict[datetime, list[dict]]]:
    """The head slots ({hour: slot}) and the slots of `dim` = each of `values` ({hour: [slot, ...]}) of
    the hours from `first` to `last`."""
    head_docs, part_docs = _docs(db, company, model, dim, values, first, last)
    at = clock.from_epoch_ms
    heads = {at(ms): slot for ms, slot in _by_hour(head_docs, packs.hours)}
    parts: dict[datetime, list[dict]] = {}
    for ms, slot in _by_hour(part_docs, packs.hours):
        parts.setdefault(at(ms), []).append(slot)
    return heads, parts


def _docs(db: Database, company: str, model: str, dim: str, values: list[str], first: datetime, last: datetime
          ) -> tuple[list[dict], list[dict]]:
    """The head documents and those of `dim` = each of `values` of the days from `first` to `last`."""
    low, high = _day(first), _day(last) + timedelta(days=1)
    return (_days(db, company, model, "", "", low, high),
            [doc for value in (values if dim else ()) for doc in _days(db, company, model, dim, value, low, high)])


def _days(db: Database, company: str, model: str, dim: str, value: str, low: datetime, high: datetime) -> list[dict]:
    """The documents of (dim, value) of the days from `low` to before `high`."""
    return list(db[ROLLUPS].find({"company": company, "model": model, "dim": dim, "value": value,
                                  "day": {"$gte": low, "$lt": high}}))


def _by_hour(docs: list[dict], per_hour) -> Iterable[tuple[int, object]]:
    """(hour in epoch milliseconds, what `per_hour(doc)` gives for it) of every hour of `docs`: a series
    walks every hour of a model's days (8,000 at a year), and datetime arithmetic per hour was a quarter
    of its time."""
    for doc in docs:
        base = clock.epoch_ms(doc["day"])
        for hh, item in per_hour(doc).items():
            yield base + int(hh) * HOUR_MS, item



def refresh(db: Database, company: str, model: str, hour: datetime, head: dict,
            records: Iterable[dict]) -> bool:
    """Writes back an hour recomputed from its `records` (read after `head`, its head slot, was): the
    dimension slots first, then the head's, only if no write touched the hour since `head` was read.
    Returns whether the head was written."""
    if head.get("inflight", 0):
        return False
    slots = slots_of(records)
    day, prefix = _day(hour), _slot_path(hour)
    ops = []
    present = {(dim, value) for (_m, _h, dim, value) in slots if dim}
    void = f"px.{hour.hour:02d}"  # the hour's packed value, if any, is replaced too
    for doc in db[ROLLUPS].find({"company": company, "model": model, "day": day, "dim": {"$ne": ""}},
                                {"dim": 1, "value": 1}):
        if (doc["dim"], doc["value"]) not in present:
            ops.append(UpdateOne({"_id": doc["_id"]}, {"$unset": {prefix: ""}, "$set": {void: True}}))
    for (_m, _h, dim, value), slot in slots.items():
        if dim:
            ops.append(UpdateOne({"_id": _id(company, model, day, dim, value)},
                                 {"$set": {prefix: slot.as_doc(), void: True},
                                  "$setOnInsert": _doc_key(company, model, day, dim, value)}, upsert=True))
    if ops:
        db[ROLLUPS].bulk_write(ops, ordered=True)
    whole = slots.get((model, hour, "", ""), Slot()).as_doc()
    writes = head.get("writes")
    guard = {"_id": _id(company, model, day, "", ""), f"{prefix}.inflight": {"$in": [0, None]},
             f"{prefix}.writes": writes if writes else {"$in": [0, None]}}
    result = db[ROLLUPS].update_one(guard, {"$set": {**{f"{prefix}.{k}": v for k, v in whole.items()},
                                                     f"{prefix}.stale": False, void: True}})
    return result.modified_count == 1


def rebuild(db: Database, company: str, model: str, records: Iterable[dict]) -> None:
    """Replaces a model's roll-ups by those of `records` (all of them, as stored): for records written
    around the API (bench/records.py) and stored before roll-ups existed (a migration). Not for a model
    being written to."""
    slots = slots_of(records)
    forget(db, company, model)
    docs: dict[tuple, dict] = {}
    for (_m, hour, dim, value), slot in slots.items():
        day = _day(hour)
        hours = docs.setdefault((day, dim, value), {})
        hours[f"{hour.hour:02d}"] = slot.as_doc()
    batch = [{"_id": _id(company, model, day, dim, value), **_doc_key(company, model, day, dim, value),
              **packs.packed(hours)} for (day, dim, value), hours in docs.items()]
    for first in range(0, len(batch), 1000):
        db[ROLLUPS].insert_many(batch[first:first + 1000], ordered=False)


def series(db: Database, company: str, model: str, dim: str, values: list[str], field: str | None,
           start: datetime, end: datetime, bucket_ms: int, aggregate, counted: Iterable = ()
           ) -> tuple[dict[int, dict], list] | None:
    """The buckets ({index: {count, min, max, sum}}) of a series from `start` to `end` (inclusive) in
    buckets of `bucket_ms`, from the roll-ups, or None when they cannot serve it (buckets that are not
    whole hours from a whole hour). Hours the roll-ups cannot vouch for (being written, stale, marked
    raw, or cut by `end`) are read through `aggregate(timestamp condition)`, which gives such buckets of
    the records themselves. Also returns the stale hours seen, [(hour, head slot)], to recompute. Settled
    days it read nested are packed on the way (`seal`)."""
    if bucket_ms % HOUR_MS or hour_of(start) != start:
        return None
    last = hour_of(end)
    key = path_key(field) if field else None
    read: list[dict] = []

    def read_days(d: str, value: str, low: datetime, high: datetime) -> list[dict]:
        found = _days(db, company, model, d, value, low, high)
        read.extend(found)
        return found

    counted = sorted(d for d in set(counted) if start.date() <= d <= last.date())
    # roll-ups of days not counted are never used (their hours are read from the records): read none
    head_docs, part_docs = months.day_docs(db, company, model, dim, values, clock.start_of_day(counted[0]),
                                           clock.start_of_day(counted[-1]), read_days) if counted else ([], [])
    # days read nested are packed, with the heads that say their days are settled (from a month's pack too)
    packs.seal(db[ROLLUPS], read + [doc for doc in head_docs if "_id" not in doc], _day(clock.now()))
    # with a dimension the head's hours only say which may be read from the roll-ups (their state)
    heads = dict(_by_hour(head_docs, lambda doc: packs.hour_values(doc, key, with_values=not dim)))
    parts: dict[int, list[tuple]] = {}
    for ms, (_state, value, _live) in _by_hour(part_docs, lambda doc: packs.part_values(doc, key)):
        if value is not None:
            parts.setdefault(ms, []).append(value)
    merged: dict[int, dict] = {}
    raw: list[datetime] = []
    stale: list = []
    # the walk over every hour in epoch milliseconds (UTC days are whole multiples of DAY_MS)
    start_ms, last_ms = clock.epoch_ms(start), clock.epoch_ms(last)
    cut_ms = last_ms if clock.epoch_ms(end) < last_ms + HOUR_MS - 1 else None  # the last hour, if `end` cuts it
    counted_days = {clock.epoch_ms(clock.start_of_day(d)) for d in counted}
    with_values = key is not None
    sums: dict[int, list] = {}  # bucket index -> [count, low, high, total], added up inline (8,000 hours a year)
    for hour in sorted(heads):
        if hour < start_ms or hour > last_ms or hour - hour % DAY_MS not in counted_days:
            continue
        state, value, live = heads[hour]
        if state == packs.UNSETTLED or hour == cut_ms or (key and state == packs.RAW):
            raw.append(clock.from_epoch_ms(hour))
            if live is not None and live.get("stale") and not live.get("inflight"):
                stale.append((clock.from_epoch_ms(hour), live))
            continue
        index = (hour - start_ms) // bucket_ms
        for count, low, high, total in ((value,) if not dim and value is not None else parts.get(hour, ())):
            if not count:
                continue
            into = sums.get(index)
            if into is None:
                sums[index] = [count, low, high, total]
                continue
            into[0] += count
            if with_values:
                into[1], into[2], into[3] = min(into[1], low), max(into[2], high), into[3] + total
    for index, (count, low, high, total) in sums.items():
        merged[index] = {"count": count, "min": low, "max": high, "sum": total}
    # hours outside the counted days (as spans: a caller may ask for centuries) and those the roll-ups
    # cannot vouch for are read from the records
    for run_start, run_end in spans.joined(spans.gaps(start, last + HOUR, counted) + spans.runs(sorted(set(raw)))):
        condition = {"$gte": run_start, "$lt": min(run_end, end + timedelta(milliseconds=1))}
        for index, part in aggregate(condition).items():
            merge(merged, index, part, key is not None)
    return merged, stale


def merge(into: dict[int, dict], index: int, part: dict, with_values: bool) -> None:
    """Adds a bucket's partial sums to `into[index]` (`part`, the caller's own, may become it)."""
    had = into.get(index)
    if had is None:
        into[index] = part
        return
    had["count"] += part["count"]
    if with_values:
        had["min"], had["max"] = min(had["min"], part["min"]), max(had["max"], part["max"])
        had["sum"] += part["sum"]


