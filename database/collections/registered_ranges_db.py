"""The company's registered models counted by name range: where page N of the registry by name starts,
without reading the registered models before it.

The embedded server reads, decodes and sorts every candidate of a query before it skips and limits, and
counts by reading every document (docs/search-plans.md): a page of a company's registered models by name
costs time linear in the company's registered models (~0.3 s at 10,000, seconds at 100,000). This keeps
beside `registered_models` the company's names cut into consecutive ranges with their counts:

    registered_name_ranges: {_id, company, lo, n, entries: ',["name","id"],["name","id"]...'}
    range = names >= lo and < the next range's lo; n = the number of entries, both changed in one update

`entries` is one string of JSON arrays, each led by a comma, so that adding one is a `$concat` and reading
a range's thousands of names decodes one string (as an array of arrays, every name and id a separate
value to decode, reading the counts of 100,000 names took 70 ms and a search 330 ms on the embedded
server; as one string 13 ms and ~90 ms).

A page at offset `skip` then reads the ranges' counts (a few hundred documents at 100,000 names), adds them
to find the ranges the page falls in, and reads only those registered models (a range query on the
(company, name, _id) index: at most a few ranges' worth of candidates). The total is the sum of the counts.
A name search reads the ranges' entries (the company's names and ids, without the rest of each registered
model), matches them here, and reads the page's registered models by id.

Kept right by:
- `added`: a registered model created is counted and listed in its range, one atomic update of the range
  whose `lo` is the greatest not above its name;
- every page read: the ranges it reads are counted exactly from their documents; a range whose count is
  found wrong gets its entries and count set right (compare-and-set on the count seen, so a concurrent
  update is never overwritten), and a range grown past `MOST` names is cut into ranges of `TARGET`.
  Each read also checks one more range, chosen by the clock, so a wrong count anywhere is found within
  a few reads;
- `rebuild`: every range of a company made again from its registered models (a migration, and after
  loading registered models around the API).

A count can be wrong for a moment: a crash between creating a registered model and counting it, or a
check that counted a model whose `$inc` had not yet landed. A page is always made of the exact documents
of the ranges it reads; only the ranges before them are taken on trust, so such a moment can shift a
page by one name and the total by one (and leave a name out of searches) until the next read of that
range sets it right. Registered models
are never deleted or renamed (a model moved to another name registers under the new name), so counts
only grow.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
import time

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import ids
from database.query import patterns

RANGES = "registered_name_ranges"
REGISTERED_MODELS = "registered_models"  # the same collection as model_versions_db.REGISTERED_MODELS
TARGET = 256  # names per range when ranges are made (a rebuild, a cut)
MOST = 512  # a range found holding more names than this is cut
ORDER = [("name", ASCENDING), ("_id", ASCENDING)]


def ensure_indexes(db: Database) -> None:
    # one range per (company, lo); `added` finds the range of a name and pages read a company's ranges by lo
    db[RANGES].create_index([("company", ASCENDING), ("lo", ASCENDING)], unique=True)


def added(db: Database, company: str, name: str, doc_id: str) -> None:
    """Counts and lists a registered model just created in the range its name falls in."""
    piece = _encode([[name, doc_id]])
    for _ in range(3):
        found = db[RANGES].find_one_and_update(
            {"company": company, "lo": {"$lte": name}},
            [{"$set": {"n": {"$add": ["$n", 1]},
                       "entries": {"$concat": [{"$ifNull": ["$entries", ""]}, {"$literal": piece}]}}}],
            sort=[("lo", DESCENDING)], projection={"_id": 1})
        if found is not None:
            return
        # the company's first registered model (a range with lo "" holds every name below the others)
        with contextlib.suppress(DuplicateKeyError):
            db[RANGES].insert_one({"_id": ids.new_id(), "company": company, "lo": "", "n": 1,
                                   "entries": piece})
            return


def rebuild(db: Database, company: str) -> None:
    """The company's ranges made again from its registered models (reads every one of them once)."""
    entries = [[d["name"], d["_id"]] for d in db[REGISTERED_MODELS].find({"company": company}, {"name": 1})
               .sort(ORDER)]
    db[RANGES].delete_many({"company": company})
    cuts = _cuts([name for name, _ in entries])
    if not cuts:
        return
    with contextlib.suppress(DuplicateKeyError):  # another rebuild of the same names made the same ranges
        db[RANGES].insert_many([{"_id": ids.new_id(), "company": company, "lo": entries[at][0] if at else "",
                                 "n": count, "entries": _encode(entries[at:at + count])} for at, count in cuts],
                               ordered=False)


def _encode(entries: list[list]) -> str:
    """Entries as stored: each [name, id] as JSON (ASCII, so any name is safe to store), led by a comma."""
    return "".join("," + json.dumps(entry, separators=(",", ":")) for entry in entries)


def _decode(text) -> list[list]:
    if not isinstance(text, str) or not text:
        return []
    return json.loads("[" + text[1:] + "]")


def _cuts(names: list[str]) -> list[tuple[int, int]]:
    """(first index, count) of consecutive runs of about TARGET names; equal names stay in one run."""
    cuts, start = [], 0
    while start < len(names):
        end = min(start + TARGET, len(names))
        while end < len(names) and names[end] == names[end - 1]:
            end += 1
        cuts.append((start, end - start))
        start = end
    return cuts


def page(db: Database, company: str, skip: int, limit: int, projection: dict) -> tuple[list[dict], int]:
    """The company's registered models in (name, _id) order after `skip`, at most `limit`, projected (with
    `name`); and how many it has."""
    ranges = _ranges(db, company, {"lo": 1, "n": 1})
    if not ranges:
        return [], 0
    counts = [max(int(r.get("n") or 0), 0) for r in ranges]
    bounds = [r["lo"] for r in ranges]
    fields = {**projection, "name": 1}

    first, before = 0, 0  # the range the page starts in, by the counts, and how many names come before it
    while first < len(ranges) - 1 and before + counts[first] <= skip:
        before += counts[first]
        first += 1
    docs: list[dict] = []
    last = first - 1
    while last < len(ranges) - 1 and len(docs) < skip - before + limit:
        # the next ranges, as many as the counts say the page still needs (at least one)
        start, wanted, end = last + 1, skip - before + limit - len(docs), last + 1
        while end < len(ranges) - 1 and sum(counts[start:end + 1]) < wanted:
            end += 1
        found = _Found(list(db[REGISTERED_MODELS].find(_between(company, bounds, start, end), fields)
                            .sort(ORDER)), bounds)
        for i in range(start, end + 1):
            counts[i] = _settle(db, company, ranges[i], counts[i], found.entries_in(i))
        docs += found.docs
        last = end
    _check_one(db, company, ranges, bounds, counts, first, last)
    return docs[skip - before:skip - before + limit], sum(counts)


def _ranges(db: Database, company: str, fields: dict) -> list[dict]:
    """The company's ranges by `lo`; made first when it has registered models but no ranges (loaded
    around the API, or stored before the ranges)."""
    ranges = list(db[RANGES].find({"company": company}, fields).sort("lo", ASCENDING))
    if not ranges and db[REGISTERED_MODELS].find_one({"company": company}, {"_id": 1}) is not None:
        rebuild(db, company)
        ranges = list(db[RANGES].find({"company": company}, fields).sort("lo", ASCENDING))
    return ranges


def _between(company: str, bounds: list[str], start: int, end: int) -> dict:
    """The filter of the registered models of ranges `start` to `end` (by their `lo`s, `bounds`)."""
    name: dict = {"$gte": bounds[start]}
    if end + 1 < len(bounds):
        name["$lt"] = bounds[end + 1]
    return {"company": company, "name": name}


class _Found:
    """The registered models of consecutive ranges, in order, with which range each falls in."""

    def __init__(self, docs: list[dict], bounds: list[str]):
        self.docs = docs
        self.range_of = [bisect.bisect_right(bounds, d.get("name", "")) - 1 for d in docs]

    def entries_in(self, i: int) -> list[list]:
        return [[d.get("name", ""), d["_id"]] for d, r in zip(self.docs, self.range_of, strict=True) if r == i]


def _settle(db: Database, company: str, range_doc: dict, seen: int, exact: list[list]) -> int:
    """A range whose registered models (`exact`, in order) were just read: its count and entries set right
    when `seen` was wrong, and it cut when it holds more than MOST. Returns the exact count."""
    if len(exact) != seen:
        _set_entries(db, range_doc["_id"], seen, exact)
    if len(exact) > MOST:
        _cut(db, company, range_doc, len(exact), exact)
    return len(exact)


def _set_entries(db: Database, range_id: str, seen: int, exact: list[list]) -> None:
    """The range's entries and count set to what its documents say, unless it changed since it was read."""
    db[RANGES].update_one({"_id": range_id, "n": seen}, {"$set": {"n": len(exact), "entries": _encode(exact)}})


def _cut(db: Database, company: str, range_doc: dict, seen: int, entries: list[list]) -> None:
    """A range grown past MOST names (its `entries` in order) cut into runs of TARGET: the first keeps its
    document, the others get new ones (a range made by another reader meanwhile is left as it is). A name
    counted in the old range meanwhile makes its count wrong until it is next read."""
    cuts = _cuts([name for name, _ in entries])
    if len(cuts) < 2:
        return
    with contextlib.suppress(DuplicateKeyError):
        db[RANGES].insert_many([{"_id": ids.new_id(), "company": company, "lo": entries[at][0], "n": count,
                                 "entries": _encode(entries[at:at + count])} for at, count in cuts[1:]],
                               ordered=False)
    _set_entries(db, range_doc["_id"], seen, entries[:cuts[0][1]])


def _check_one(db: Database, company: str, ranges: list[dict], bounds: list[str], counts: list[int],
               first: int, last: int) -> None:
    """Counts one range the page did not read (which one moves with the clock) and sets its count right."""
    unread = [i for i in range(len(ranges)) if not first <= i <= last]
    if not unread:
        return
    i = unread[int(time.time()) % len(unread)]
    exact = [[d["name"], d["_id"]] for d in db[REGISTERED_MODELS].find(_between(company, bounds, i, i), {"name": 1})
             .sort(ORDER)]
    counts[i] = _settle(db, company, ranges[i], counts[i], exact)


def search(db: Database, company: str, text: str, skip: int, limit: int, projection: dict
           ) -> tuple[list[dict], int]:
    """The company's registered models whose name contains `text` (any case, literally), in (name, _id)
    order after `skip`, at most `limit`, projected; and how many there are. Reads the ranges' entries, not
    the registered models, except the page's."""
    pattern = re.compile(patterns.escape_literal(text, "search"), re.IGNORECASE)
    matched = sorted({(name, doc_id) for r in _ranges(db, company, {"entries": 1})
                      for name, doc_id in _decode(r.get("entries")) if pattern.search(name)})
    wanted = [doc_id for _, doc_id in matched[skip:skip + limit]]
    docs = {d["_id"]: d for d in db[REGISTERED_MODELS].find({"_id": {"$in": wanted}, "company": company},
                                                            {**projection, "name": 1})}
    return [docs[i] for i in wanted if i in docs], len(matched)

