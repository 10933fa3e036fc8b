"""A page in time order read window by window of time, on the embedded server.

The embedded server (secantusd-py 0.7, `storage.py` `find_matching`) decodes every candidate its index
gives, checks the filter on each, sorts all the matches and only then skips and limits: the first 100 of
a model's 50,000 records at one site cost 50,000 documents decoded (2.4 s at a million records). A page
in timestamp order needs only the first `skip + limit` matches, so here they are read window by window
of time, each window one index range (`shape.split_lead`: the narrowest equality, the company and the
window), until the page is full. Each window is sized from the per-day counts of records (the stream
planner's) so that it holds about as many records as are still needed, scaled by how many of the
records read so far matched; a window that matched nothing makes the next one eight times larger. When
the filter's own records are known to start later (a collection date's first record, `span`), the first
window ends that far past where they start rather than past the start of everything. The first window is
open towards where the request's range starts and the last towards where it ends, so counts or spans out
of date change how the windows fall and never which documents the page holds. Where the filter's records
can be probed one index range each (a few collection dates, `probes`), the first window starts at the span
instead once a probe of each shows that none lies before it: a filter led by another field (`season`)
then does not read that field's records from the start of time.

On MongoDB none of this is used: it walks an index in sort order and stops at the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from database import clock
from database.query import dates, shape
from database.query.readable import Bounded

DAY = timedelta(days=1)
FIRST_WINDOW = 50  # records the first window aims at besides the page itself
GROWTH = 8  # largest factor from one window to the next
_LOWER, _UPPER = ("$gte", "$gt"), ("$lt", "$lte")


class _Days:
    """Per-day record counts, to find where a span holding about `n` records ends (records spread evenly
    over each day)."""

    def __init__(self, counts: Mapping[date, int]):
        self.days = sorted((d, c) for d, c in counts.items() if c > 0)

    def forward(self, position: datetime | None, n: float) -> datetime | None:
        """The instant after `position` (None: before every day) by which about `n` records have passed;
        None when the counted days run out first."""
        for day, count in self.days:
            start = clock.start_of_day(day)
            if position is not None and start + DAY <= position:
                continue
            begin = start if position is None or position < start else position
            held = count * ((start + DAY - begin) / DAY)
            if held >= n:
                return begin + (start + DAY - begin) * (n / held)
            n -= held
        return None

    def backward(self, position: datetime | None, n: float) -> datetime | None:
        for day, count in reversed(self.days):
            start = clock.start_of_day(day)
            if position is not None and start >= position:
                continue
            finish = start + DAY if position is None or position > start + DAY else position
            held = count * ((finish - start) / DAY)
            if held >= n:
                return finish - (finish - start) * (n / held)
            n -= held
        return None


class TimePager:
    """Reads pages whose first sort key is `field` window by window (see the module docstring).
    `day_counts(match)` gives the per-day counts that size the windows ({} when unknown); `span(match)`,
    when given, the first and last `field` value of what `match` selects as far as it is known (or None);
    `probes(match)`, when given, filters that together select every document the span is for, each one
    index range once a condition on `field` is added (or None when there are too many to probe)."""

    def __init__(self, field: str, narrow_first: tuple[str, ...],
                 day_counts: Callable[[dict], Mapping[date, int]],
                 span: Callable[[dict], tuple[datetime, datetime] | None] | None = None,
                 probes: Callable[[dict], list[dict] | None] | None = None):
        self.field = field
        self.narrow_first = narrow_first
        self.day_counts = day_counts
        self.span = span
        self.probes = probes

    def read(self, collection: Collection, match: dict, sort: list[tuple[str, int]], projection: dict | None,
             skip: int, limit: int, bound: Bounded) -> list[dict] | None:
        """The page, or None when it is not one to read this way (nothing read then)."""
        if not sort or sort[0][0] != self.field or limit <= 0:
            return None
        bounds = match.get(self.field, {})
        if not isinstance(bounds, dict) or not all(op in _LOWER + _UPPER and isinstance(v, datetime)
                                                   for op, v in bounds.items()):
            return None
        split = shape.split_lead(match, self.narrow_first, self.field)
        if split is None:
            return None
        days = _Days(self.day_counts(match))
        if not days.days:
            return None
        span = self.span(match) if self.span is not None else None
        probes = self.probes(match) if span is not None and self.probes is not None else None
        if probes is not None:
            probes = [{**probe, "company": match["company"]} for probe in probes]
        try:
            return self._windows(collection, split, bounds, days, span, probes, sort, projection, skip, limit,
                                 bound)
        except OperationFailure as exc:
            if exc.timeout:
                raise
            bound.restart()  # a document the database cannot send: the plain path leaves it out
            return None

    def _windows(self, collection: Collection, split: tuple[dict, dict], bounds: dict, days: _Days,
                 span: tuple[datetime, datetime] | None, probes: list[dict] | None, sort: list[tuple[str, int]],
                 projection: dict | None, skip: int, limit: int, bound: Bounded) -> list[dict]:
        lead, rest = split
        descending = sort[0][1] == -1
        lower = {op: v for op, v in bounds.items() if op in _LOWER}
        upper = {op: v for op, v in bounds.items() if op in _UPPER}
        if "$lte" in upper:  # as the query engine sends it (dates.through): the embedded server's scans drop
            # a document on a `$lte` bound of a field that is not its index's last
            ceiling = dates.through(upper.pop("$lte"))["$lt"]
            upper = {"$lt": min(ceiling, clock.as_utc(upper["$lt"])) if "$lt" in upper else ceiling}
        low = max((clock.as_utc(v) for v in lower.values()), default=None)
        high = min((clock.as_utc(v) for v in upper.values()), default=None)
        source = bound.source(collection)
        tail = [{"$sort": dict(sort)}]
        tail_projection = [{"$project": projection}] if projection else []
        docs: list = []
        position, first, at_span = (high if descending else low), True, False
        if span is not None:  # where the first window's edge is reckoned from; the window stays open
            start = clock.as_utc(span[1] if descending else span[0])
            if descending:
                position = start if high is None else min(high, start)
            else:
                position = start if low is None else max(low, start)
            # nothing lies before the span on the reading side: the first window starts at its edge (only
            # inside the request's own bound, which the window then no longer carries)
            inside = (high is None or start < high) if descending else (low is None or start > low)
            at_span = probes is not None and inside and not self._any_beyond(
                collection, probes, start, lower, upper, descending)
        target = float(skip + limit + FIRST_WINDOW)
        while True:
            wanted = skip + limit - len(docs)
            edge = days.backward(position, target) if descending else days.forward(position, target)
            if edge is not None and ((low is not None and edge <= low) or (high is not None and edge >= high)):
                edge = None  # past the request's own bound: the last window
            condition = _window(None if first and not at_span else position, edge, lower, upper, descending,
                                through=first)
            pipeline = [{"$match": {**lead, self.field: condition} if condition else dict(lead)}]
            if rest:
                pipeline.append({"$match": rest})
            pipeline += [*tail, {"$limit": wanted}, *tail_projection]
            found = 0
            with source.aggregate(pipeline) as cursor:
                for doc in cursor:
                    found += 1
                    if skip:
                        skip -= 1
                        continue
                    if bound.max_bytes and not bound.add(doc):
                        return bound.documents()
                    docs.append(doc)
            if len(docs) >= limit or edge is None:
                break
            still = skip + limit - len(docs)
            rate = found / target
            target = min(target * GROWTH, still / rate * 1.25) if rate else target * GROWTH
            target = max(target, float(FIRST_WINDOW))
            position, first = edge, False
        return bound.documents() if bound.max_bytes else docs

    def _any_beyond(self, collection: Collection, probes: list[dict], start: datetime, lower: dict, upper: dict,
                    descending: bool) -> bool:
        """Whether a document of a probe lies between the request's own bound and `start` (the span's edge),
        on the side the page is read from: one index range each, empty unless the notes missed one."""
        beyond = {**upper, "$gt": start} if descending else {**lower, "$lt": start}
        return any(collection.find_one({**probe, self.field: beyond}, {"_id": 1}) is not None for probe in probes)


def _window(position: datetime | None, edge: datetime | None, lower: dict, upper: dict, descending: bool,
            through: bool = False) -> dict:
    """The time condition of the window from `position` to `edge`, in reading order (None at either end:
    the request's own bound there, or none). `through`: newest first, the window holds `position` itself
    (a first window starting at a span's last record)."""
    if descending:
        condition = dict(lower) if edge is None else {"$gte": edge}
        if position is None:
            condition.update(upper)
        else:
            condition.update(dates.through(position) if through else {"$lt": position})
        return condition
    condition = dict(lower) if position is None else {"$gte": position}
    condition.update(upper if edge is None else {"$lt": edge})
    return condition
