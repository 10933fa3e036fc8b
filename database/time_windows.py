"""Reading a long, time-ordered match as a run of queries, each over one window of time.

A sorted `find` over a million documents is one cheap index walk on MongoDB, but the embedded server
(secantusd-py 0.7, `storage.py` `find`) decodes and sorts every match before it answers the first
batch: at 1M records that took more memory than the machine had. A query whose filter is equalities
plus one range on `timestamp` is served by a compound index range on both servers, so the same records
read window after window cost the database only one window at a time, and come out in the same order:
the windows split the time line without gaps or overlaps, and each is sorted like the whole.

Where the windows fall is planned from the known first and last timestamps of the data and its size,
then adapted to what each window held. Those figures only make the windows the right size: the first
window is open towards the past and the last one towards the future (bounded only by the request's own
range), so a record outside stale figures is still read, in its place.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from pymongo.collection import Collection

WINDOW_DOCUMENTS = 10_000  # what a window aims to hold: the embedded server sorts one window at a time
_MIN_SPAN = timedelta(milliseconds=1)  # MongoDB keeps time to the millisecond
_LOWER = ("$gte", "$gt")
_UPPER = ("$lt", "$lte")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class TimeWindows:
    """The timestamp conditions of successive windows, oldest first (newest first when `descending`).

    `first`/`last`: the earliest and latest timestamps the data is known to hold; `documents`: about how
    many it holds (sizes the first window). `bounds`: the request's own timestamp condition (`$gte`/`$gt`
    and `$lt`/`$lte` only), which the outer windows keep. Call `next(held)` with how many documents the
    previous window held; it returns the next window's condition ({} for "no condition"), or None.
    """

    def __init__(self, first: datetime, last: datetime, documents: int, *, bounds: dict | None = None,
                 descending: bool = False, target: int = WINDOW_DOCUMENTS):
        self.bounds = {op: _utc(value) for op, value in (bounds or {}).items()}
        self.descending = descending
        self.target = max(1, target)
        low, high = _utc(first), _utc(last) + _MIN_SPAN  # the known data lies in [low, high)
        for op in _LOWER:  # nothing to plan below the request's own start, or above its end
            if op in self.bounds:
                low = max(low, self.bounds[op])
        for op in _UPPER:
            if op in self.bounds:
                high = min(high, self.bounds[op])
        self.low, self.high = low, high
        # the span that holds `target` documents at the data's mean density; a window never spans more than
        # 4 of them, so that a window landing on dense data after a long quiet stretch stays small
        self.span = max((high - low) * self.target / max(documents, 1), _MIN_SPAN)
        self.widest = self.span * 4
        self.edge: datetime | None = None  # where the windows so far end (start, when descending)
        self.done = False

    def next(self, held: int | None = None) -> dict | None:
        if self.done:
            return None
        if held is not None:  # aim the next window at `target` documents: shrink at once, widen 4x at most
            factor = 4.0 if held == 0 else min(4.0, self.target / held)
            self.span = min(max(self.span * factor, _MIN_SPAN), self.widest)
        return self._descending() if self.descending else self._ascending()

    def _ascending(self) -> dict:
        start = self.low if self.edge is None else self.edge
        end = start + self.span
        condition = ({op: v for op, v in self.bounds.items() if op in _LOWER} if self.edge is None
                     else {"$gte": self.edge})
        if end >= self.high:  # the last window: open towards the future, up to the request's end
            self.done = True
            condition.update({op: v for op, v in self.bounds.items() if op in _UPPER})
            return condition
        condition["$lt"] = self.edge = end
        return condition

    def _descending(self) -> dict:
        end = self.high if self.edge is None else self.edge
        start = end - self.span
        condition = ({op: v for op, v in self.bounds.items() if op in _UPPER} if self.edge is None
                     else {"$lt": self.edge})
        if start <= self.low:  # the last window: open towards the past, down to the request's start
            self.done = True
            condition.update({op: v for op, v in self.bounds.items() if op in _LOWER})
            return condition
        condition["$gte"] = self.edge = start
        return condition


def windowed_find(collection: Collection, match: dict, windows: TimeWindows, field: str = "timestamp", *,
                  projection: dict | None = None, sort: list | None = None, batch_size: int = 0
                  ) -> Iterator[dict]:
    """Every document of `match` (which must not hold `field`), window after window, each window read
    with `sort`. A generator: closing it closes the window's cursor."""
    held = None
    while (condition := windows.next(held)) is not None:
        query = {**match, field: condition} if condition else match
        held = 0
        with collection.find(query, projection, sort=sort, batch_size=batch_size) as cursor:
            for doc in cursor:
                held += 1
                yield doc
