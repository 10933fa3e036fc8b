"""Reading a long, time-ordered match as a run of queries, each over one window of time.

A sorted `find` over a million documents is one cheap index walk on MongoDB, but the embedded server
(secantusd-py 0.7, `storage.py` `find`) decodes and sorts every match before it answers the first
batch: at 1M records that took more memory than the machine had. A query whose filter is equalities
plus one range on `timestamp` is served by a compound index range on both servers, so the same records
read window after window cost the database only one window at a time, and come out in the same order:
the windows split the time line without gaps or overlaps, and each is sorted like the whole.

Where the windows fall is planned from how many documents each day holds, so that each window holds
about `target` of them (a day holding more is cut into equal slices of time). Those counts only size
the windows: the first window is open towards the past and the last one towards the future (bounded
only by the request's own range), so a document the counts do not know of is still read, in its place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta

from pymongo.collection import Collection

from database import clock

WINDOW_DOCUMENTS = 10_000  # what a window aims to hold: the embedded server sorts one window at a time
DAY = timedelta(days=1)
# A day is cut into at most this many slices (minutes), whatever its count says: a count far too high
# must not turn one stream into a hundred thousand queries.
MAX_SLICES_A_DAY = 1440
_LOWER = ("$gte", "$gt")
_UPPER = ("$lt", "$lte")


def cuts(day_counts: Mapping[date, int], target: int = WINDOW_DOCUMENTS, bounds: Mapping | None = None
         ) -> list[datetime]:
    """The instants that split the time line into windows of about `target` documents, given how many
    each day holds, inside the request's timestamp `bounds` (`$gte`/`$gt`/`$lt`/`$lte`)."""
    target = max(1, target)
    bounds = {op: clock.as_utc(value) for op, value in (bounds or {}).items()}
    low = max((bounds[op] for op in _LOWER if op in bounds), default=None)
    high = min((bounds[op] for op in _UPPER if op in bounds), default=None)
    out: list[datetime] = []
    held = 0
    for day in sorted(day_counts):
        count, start = day_counts[day], clock.start_of_day(day)
        if count <= 0 or (low is not None and start + DAY <= low) or (high is not None and start > high):
            continue
        if count > target:  # a window of its own, cut into equal slices
            slices = min(math.ceil(count / target), MAX_SLICES_A_DAY)
            out += [start] + [start + DAY * i / slices for i in range(1, slices)] + [start + DAY]
            held = 0
        elif held + count > target:
            out.append(start)
            held = count
        else:
            held += count
    return sorted({c for c in out if (low is None or c > low) and (high is None or c < high)})


def conditions(cut_points: list[datetime], bounds: Mapping | None = None, descending: bool = False
               ) -> list[dict]:
    """The timestamp condition of each window, in reading order ({} for "no condition"): the first and
    last keep the request's own bounds and are otherwise open."""
    bounds = dict(bounds or {})
    lower = {op: v for op, v in bounds.items() if op in _LOWER}
    upper = {op: v for op, v in bounds.items() if op in _UPPER}
    edges: list = [None, *cut_points, None]
    windows = []
    for start, end in zip(edges, edges[1:], strict=False):
        condition = dict(lower) if start is None else {"$gte": start}
        condition.update(upper if end is None else {"$lt": end})
        windows.append(condition)
    return windows[::-1] if descending else windows


def windowed_find(collection: Collection, match: dict, windows: Iterable[dict], field: str = "timestamp", *,
                  projection: dict | None = None, sort: list | None = None, batch_size: int = 0
                  ) -> Iterator[dict]:
    """Every document of `match`, window after window (each window's condition replaces the one `match`
    has on `field`), each window read with `sort`. A generator: closing it closes the window's cursor."""
    rest = {k: v for k, v in match.items() if k != field}
    for condition in windows:
        query = {**rest, field: condition} if condition else rest
        with collection.find(query, projection, sort=sort, batch_size=batch_size) as cursor:
            yield from cursor
