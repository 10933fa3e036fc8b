"""Month packs of the records roll-ups (record_rollups_db.py): a settled month's packed day documents of
one model and dimension value copied into one document, so a chart of a year reads a dozen documents
instead of several hundred (the embedded server spends ~35 us on each document it returns, whatever
its size).

Collection `record_rollup_months`, one document per company, model, month ("YYYY-MM", a month before the
current one) and dimension value: `{_id, company, model, month, dim, value, built, days: {"DD": p},
fields: {path key: {"DD": pf}}}`, where `p` and `pf` are the day documents' packed strings
(record_rollup_packs.py), so a reader gives `hour_values` the same strings.

A pack is only right while no write has touched its month since it was built. Every write of records
marks its hours as being written first (`record_rollups_db.begin`); for hours of a month before the
current one it first adds 1 to the month's `epoch`, kept in the head's month document (dimension ""),
which may hold no pack. A pack is built from day documents that are all packed (no nested hours, none
void) and stamped `built` with the epoch read *before* those days were read; it is used only while
`built` equals the head's current `epoch`. A write that starts while a pack is being built bumps the
epoch first, so that pack is stale when written; the head's pack is written with a compare-and-set on
the epoch it was built at. A write that began before the epoch was read leaves its hours nested in the
head's days (being written, or written and not yet packed) until it has written every dimension's days
(it writes the head's last): so a dimension's pack is built only in a read that found the head's days
packable, or its pack right, having read the dimension's days after them, and is used only with the
head's pack. A writer that dies after its bump leaves the month read from its days (correct, only
slower) until a read packs it again.

Writers that do not bump (hosts of an earlier release during a rolling upgrade) are bounded by age: a
pack is used for MAX_AGE after it was built, then built again from the days. Records written around the
API go through `record_rollups_db.rebuild`, which drops the model's packs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from database import clock, connection
from database.collections.record_days_db import month_of

MONTHS = "record_rollup_months"
MAX_AGE_MS = 10 * 60 * 1000  # what a writer that does not bump can leave stale, at most
# Losing a bump to a crash would lose the write it precedes too (the journal is one sequence); packs are
# rebuilt by reads. So they need no journal flush of their own.
connection.needs_no_flush(MONTHS)


def ensure_indexes(db: Database) -> None:
    db[MONTHS].create_index([("company", ASCENDING), ("model", ASCENDING)])  # forget


def month_start(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=timezone.utc)


def next_month(month: str) -> str:
    return month_of(month_start(month) + timedelta(days=31))


def settled(month: str) -> bool:
    """Whether a month is over (only those are packed: the current one is still being written)."""
    return month < month_of(clock.now())


def doc_id(company: str, model: str, period: str, dim: str, value: str) -> str:
    """The id of a roll-up document of a day ("YYYY-MM-DD", record_rollups_db) or of a month's pack
    ("YYYY-MM"): a dimension's value by its digest, whatever its length."""
    digest = hashlib.sha1(value.encode()).hexdigest()[:20] if dim else ""
    return f"{company}/{model}/{period}/{dim}/{digest}"


def bump(db: Database, company: str, hours: Iterable[tuple[str, datetime]]) -> None:
    """Voids the packs of the settled months of these (model, hour): first step of a write of records."""
    months = sorted({(model, month_of(hour)) for model, hour in hours if settled(month_of(hour))})
    if months:
        db[MONTHS].bulk_write([
            UpdateOne({"_id": doc_id(company, model, month, "", "")}, {
                "$inc": {"epoch": 1},
                "$setOnInsert": {"company": company, "model": model, "month": month, "dim": "", "value": ""}},
                upsert=True)
            for model, month in months], ordered=False)


def forget(db: Database, company: str, model: str) -> None:
    db[MONTHS].delete_many({"company": company, "model": model})


def read(db: Database, company: str, model: str, dim: str, values: list[str], months: list[str]
         ) -> tuple[dict[str, int], dict[tuple[str, str], dict]]:
    """({month: epoch} of the head, {(month, value): pack}) of the settled `months`: the head's own pack
    (value "") and, with `dim`, each value's, only those still right (built at the current epoch, within
    MAX_AGE_MS)."""
    if not months:
        return {}, {}
    keys = [("", "")] + [(dim, value) for value in (values if dim else ())]
    ids = [doc_id(company, model, month, d, v) for month in months for d, v in keys]
    docs = {(doc["month"], doc["dim"], doc["value"]): doc for doc in db[MONTHS].find({"_id": {"$in": ids}})}
    now_ms = clock.epoch_ms(clock.now())
    epochs = {month: int((docs.get((month, "", "")) or {}).get("epoch") or 0) for month in months}
    packs: dict[tuple[str, str], dict] = {}
    for (month, d, value), doc in docs.items():
        if ((d == "" or d == dim) and "days" in doc and doc.get("built") == epochs[month]
                and int(doc.get("at_ms") or 0) > now_ms - MAX_AGE_MS):
            packs[(month, value if d else "")] = doc
    # a value's pack only with its head's: both were built from days read after every write before them
    return epochs, {key: doc for key, doc in packs.items() if (key[0], "") in packs}


def as_day_docs(pack: dict) -> list[dict]:
    """A pack's days as the packed day documents they were copied from (what `hour_values` reads)."""
    start = month_start(pack["month"])
    fields = pack.get("fields") or {}
    return [{"day": start + timedelta(days=int(dd) - 1), "dim": pack["dim"], "value": pack["value"], "p": p,
             "pf": {key: by_day[dd] for key, by_day in fields.items() if dd in by_day}}
            for dd, p in sorted((pack.get("days") or {}).items())]


def packable(docs: list[dict]) -> bool:
    """Whether a month's day documents (as read, whole) can be packed: every one packed, none with nested
    or void hours."""
    return all(doc.get("p") and not doc.get("h") and not doc.get("px") for doc in docs)


def write(db: Database, company: str, model: str, month: str, dim: str, value: str, epoch: int,
          docs: list[dict]) -> None:
    """Stores the pack of a settled month's packed day `docs` of (dim, value), built at `epoch` (the
    head's, read before the days were). The head's is written only if its epoch is still `epoch`; a
    dimension's is used only while the head's epoch stays that. A refused write is left to a later read."""
    days = {f"{doc['day'].day:02d}": doc["p"] for doc in docs}
    fields: dict[str, dict] = {}
    for doc in docs:
        for key, packed in (doc.get("pf") or {}).items():
            fields.setdefault(key, {})[f"{doc['day'].day:02d}"] = packed
    pack = {"built": epoch, "at_ms": clock.epoch_ms(clock.now()), "days": days, "fields": fields}
    keys = {"company": company, "model": model, "month": month, "dim": dim, "value": value}
    pack_id = doc_id(company, model, month, dim, value)
    try:
        if dim:
            db[MONTHS].update_one({"_id": pack_id}, {"$set": pack, "$setOnInsert": keys}, upsert=True)
        elif epoch:
            db[MONTHS].update_one({"_id": pack_id, "epoch": epoch}, {"$set": pack})
        else:
            db[MONTHS].update_one({"_id": pack_id, "epoch": {"$exists": False}}, {"$set": pack, "$setOnInsert": keys},
                                  upsert=True)
    except (DuplicateKeyError, OperationFailure):  # a writer bumped the epoch meanwhile: stale anyway
        return


def _ranges(months: list[str], first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
    """[from, to) day ranges covering `months`: a settled month whole (so that it can be packed), the
    current one from `first` to `last`; contiguous ones joined."""
    out: list[tuple[datetime, datetime]] = []
    for month in months:
        low, high = month_start(month), month_start(next_month(month))
        if not settled(month):
            low, high = max(low, first), min(high, last + timedelta(days=1))
        if out and out[-1][1] == low:
            out[-1] = (out[-1][0], high)
        else:
            out.append((low, high))
    return out


def day_docs(db: Database, company: str, model: str, dim: str, values: list[str], first: datetime,
             last: datetime, read_days) -> tuple[list[dict], list[dict]]:
    """The head's day documents and those of `dim` = each of `values` from day `first` to day `last`, as
    a series reads them: settled months from their packs where these are right, the other days through
    `read_days(dim, value, from, to)` (the head's first); settled months read whole are packed on the
    way. Packed days come back as the day documents they were copied from."""
    months, month = [], month_of(first)
    while month <= month_of(last):
        months.append(month)
        month = next_month(month)
    keys = [("", "")] + [(dim, value) for value in (values if dim else ())]
    epochs, packs = read(db, company, model, dim, values, [m for m in months if settled(m)])
    head_packable: set[str] = set()
    found: dict[tuple[str, str], list[dict]] = {}
    for d, value in keys:  # the head's days before any dimension's
        wanted = [m for m in months if (m, value if d else "") not in packs]
        docs = [doc for low, high in _ranges(wanted, first, last) for doc in read_days(d, value, low, high)]
        found[(d, value)] = docs
        by_month: dict[str, list[dict]] = {m: [] for m in wanted}
        for doc in docs:
            by_month.setdefault(month_of(doc["day"]), []).append(doc)
        for m, month_docs in by_month.items():
            # a month without days costs one empty range to read: packing it would cost a write per month
            # of whatever span a caller asks for
            if not month_docs or not settled(m) or not packable(month_docs):
                continue
            if not d:
                head_packable.add(m)
            elif m not in head_packable and (m, "") not in packs:
                continue
            write(db, company, model, m, d, value, epochs[m], month_docs)
    for (_month, value), pack in packs.items():
        found[(dim, value) if value else ("", "")] += as_day_docs(pack)
    heads = found.pop(("", ""))
    return heads, [doc for docs in found.values() for doc in docs]
