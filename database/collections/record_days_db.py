"""How a model's records fall in time: per-day counts, and where each collection date's records lie.

Collection `record_days`, one document per company, model and month (UTC) of the records' timestamps:
`{_id: "<company>/<model>/<YYYY-MM>", company, model, month, days: {"DD": count},
first: {"YYYY-MM-DD": timestamp}, last: {"YYYY-MM-DD": timestamp}}`.
- `days`: records added per day, counted before they are stored (a failure in between leaves a count too
  high) and never lowered by deletes. Streams and pages in time order size their windows of time from
  them (database/query/time_windows.py, time_pages.py).
- `first` / `last`: per collection date, the earliest and latest timestamp of the records added with
  it (or looked up by the first page asking for a date none was noted for). A page filtered on
  collection dates starts reading where their records start.
Both only guide how a read walks through time, never which records it returns: the first and last
windows of a read stay open towards the request's own bounds, so a record they miss (written around the
API, or edited to another date) is still read, only later.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta

from pymongo import ASCENDING
from pymongo.database import Database

from database import clock, connection

DAYS = "record_days"
# What it holds only guides reads: a write of it that a crash loses needs no journal flush of the call's
# own (a records.add's counts are on disk with its journaled change-log entry anyway; a span noted by a
# read is noted again by the next).
connection.needs_no_flush(DAYS)
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # a collection date as the API stores it
# A page on a few collection dates first probes each for records before the dates' noted span (one index
# range each, ~1 ms): that many at most.
PROBED_DATES = 31
_COMPARE = {"$gte": lambda a, b: a >= b, "$gt": lambda a, b: a > b, "$lte": lambda a, b: a <= b,
            "$lt": lambda a, b: a < b}


def ensure_indexes(db: Database) -> None:
    db[DAYS].create_index([("company", ASCENDING), ("model", ASCENDING), ("month", ASCENDING)])


def month_of(day: date) -> str:
    """The key of a day's month (\"YYYY-MM\"), here and in the roll-ups' month packs."""
    return f"{day.year:04d}-{day.month:02d}"


def count_days(db: Database, company: str, model: str, counts: Mapping[date, int],
               dated: Iterable[tuple[str, datetime]] = ()) -> None:
    """`counts[day]` more records of `model` have a timestamp on that day (UTC); `dated`: the
    (collection date, timestamp) of those that have a collection date. One update per month."""
    months: dict[str, dict] = {}
    for day, count in counts.items():
        months.setdefault(month_of(day), {"$inc": {}})["$inc"][f"days.{day.day:02d}"] = count
    for collection_date, timestamp in dated:
        when = clock.as_utc(timestamp)
        update = months.setdefault(month_of(when.date()), {"$inc": {}})
        first, last = update.setdefault("$min", {}), update.setdefault("$max", {})
        first[f"first.{collection_date}"] = min(when, first.get(f"first.{collection_date}", when))
        last[f"last.{collection_date}"] = max(when, last.get(f"last.{collection_date}", when))
    for month, update in sorted(months.items()):
        update = {op: fields for op, fields in update.items() if fields}
        update["$setOnInsert"] = {"company": company, "model": model, "month": month}
        db[DAYS].update_one({"_id": f"{company}/{model}/{month}"}, update, upsert=True)


def rebuild(db: Database, company: str, model: str, records: Iterable[Mapping]) -> None:
    """Replaces `model`'s day counts and collection-date spans with those of `records` (each with its
    `timestamp` and, if it has one, its `collection_date`): what adds would have noted, exactly (deleted
    records no longer counted). A collection date that is not a YYYY-MM-DD string is left out, as the
    API refuses it."""
    months: dict[str, dict] = {}
    for doc in records:
        when = doc.get("timestamp")
        if not isinstance(when, datetime):
            continue
        when = clock.as_utc(when)
        month = months.setdefault(month_of(when.date()), {"days": Counter(), "first": {}, "last": {}})
        month["days"][f"{when.day:02d}"] += 1
        dated = doc.get("collection_date")
        if isinstance(dated, str) and DATE.match(dated):
            month["first"][dated] = min(when, month["first"].get(dated, when))
            month["last"][dated] = max(when, month["last"].get(dated, when))
    for month, noted in sorted(months.items()):
        db[DAYS].update_one({"_id": f"{company}/{model}/{month}"}, {"$set": {
            "company": company, "model": model, "month": month, "days": dict(noted["days"]),
            "first": noted["first"], "last": noted["last"]}}, upsert=True)
    db[DAYS].delete_many({"company": company, "model": model, "month": {"$nin": sorted(months)}})


def day_counts(db: Database, company: str, model: str | None) -> Counter:
    """Records added per day (UTC) of `model`, or of the company's every model."""
    per_day: Counter = Counter()
    for doc in db[DAYS].find({"company": company, **({"model": model} if model else {})},
                             {"month": 1, "days": 1, "_id": 0}):
        year, month = (int(part) for part in doc["month"].split("-"))
        for day, count in (doc.get("days") or {}).items():
            per_day[date(year, month, int(day))] += count
    return per_day


def _wanted(condition) -> Callable[[str], bool] | None:
    """Which collection dates a filter's condition takes, as a test of a date key; None when it is not
    a plain date, a list of them, or a range of them."""
    if isinstance(condition, str):
        return lambda key: key == condition
    if isinstance(condition, dict) and condition:
        if set(condition) == {"$in"} and isinstance(condition["$in"], list):
            values = {v for v in condition["$in"] if isinstance(v, str)}
            return lambda key: key in values
        if set(condition) <= set(_COMPARE) and all(isinstance(v, str) for v in condition.values()):
            return lambda key: all(_COMPARE[op](key, bound) for op, bound in condition.items())
    return None


def date_span(db: Database, company: str, model: str, condition) -> tuple[datetime, datetime] | None:
    """The earliest and latest timestamp of `model`'s records added with a collection date that
    `condition` (the filter's condition on `collection_date`) takes, or None when none was noted."""
    wanted = _wanted(condition)
    if wanted is None:
        return None
    firsts, lasts = [], []
    for doc in db[DAYS].find({"company": company, "model": model}, {"first": 1, "last": 1, "_id": 0}):
        firsts.extend(clock.as_utc(when) for key, when in (doc.get("first") or {}).items() if wanted(key))
        lasts.extend(clock.as_utc(when) for key, when in (doc.get("last") or {}).items() if wanted(key))
    if not firsts or not lasts:
        return None
    return min(firsts), max(lasts)


def date_probes(match: dict) -> list[dict] | None:
    """One filter per collection date `match` asks for (one date, any of a list, or a range with both ends),
    each served by the index led by `collection_date` as one range once a time condition is added; None when
    they are more than PROBED_DATES, or not plain dates."""
    condition = match.get("collection_date")
    if isinstance(condition, str):
        dates = [condition]
    elif isinstance(condition, dict) and set(condition) == {"$in"} and isinstance(condition["$in"], list):
        dates = condition["$in"]
    elif isinstance(condition, dict):
        dates = _date_range(condition)
    else:
        return None
    if dates is None or len(dates) > PROBED_DATES:
        return None
    if not all(isinstance(d, str) and DATE.match(d) for d in dates):
        return None
    return [{"collection_date": d} for d in dates]


def _date_range(condition: dict) -> list[str] | None:
    """The dates of a range of YYYY-MM-DD strings with both ends (taken as `_wanted` takes them), at most
    about PROBED_DATES of them."""
    wanted = _wanted(condition)
    lows = [v for op, v in condition.items() if op in ("$gte", "$gt")]
    highs = [v for op, v in condition.items() if op in ("$lte", "$lt")]
    if wanted is None or len(lows) != 1 or len(highs) != 1 or not all(DATE.match(v) for v in lows + highs):
        return None
    try:
        first, last = date.fromisoformat(lows[0]), date.fromisoformat(highs[0])
    except ValueError:
        return None
    if (last - first).days > PROBED_DATES:
        return None
    every = ((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))
    return [day for day in every if wanted(day)]
