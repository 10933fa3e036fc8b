"""Pages of records in timestamp order read window by window of time on the embedded server
(database/query/time_pages.py): the same records in the same order as one sorted query, for every filter,
order and page, whatever the day counts say."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import MongoClient, monitoring

from database.collections import record_days_db, records_db
from database.collections.records_db import Records
from database.connection import connect
from database.query import engine as query
from database.query.readable import Bounded
from tests.fixtures.app import REPLY_TIMEOUT_MS, drop
from tests.helpers import COMPANY_A, COMPANY_B

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
MODEL, OTHER = "m" * 32, "n" * 32


def _times(count: int, seed: int) -> list[datetime]:
    """Bursts at one millisecond, gaps of days and steady runs."""
    rng = random.Random(seed)
    out, now = [], T0
    while len(out) < count:
        kind = rng.random()
        if kind < 0.15:
            out += [now] * rng.randint(2, 6)
        elif kind < 0.22:
            now += timedelta(days=rng.randint(1, 9))
        else:
            now += timedelta(minutes=rng.choice([1, 7, 90]))
            out.append(now)
    return out[:count]


def _doc(company: str, model: str, i: int, when: datetime) -> dict:
    return {"_id": uuid.uuid4().hex, "company": company, "model": model, "timestamp": when,
            "site": f"s{i % 4}", "season": f"q{i % 3}", "user": "u1" if i % 5 else "u2",
            "collection_date": when.strftime("%Y-%m-%d"), "data": {"i": i}}


@pytest.fixture(scope="module")
def stored(mongo_uri):
    """A database of the module's own holding the records every test reads (none writes a record)."""
    database = connect(mongo_uri, f"t_time_pages_{uuid.uuid4().hex[:10]}", reply_timeout_ms=REPLY_TIMEOUT_MS)
    docs = [_doc(COMPANY_A, MODEL, i, t) for i, t in enumerate(_times(600, 1))]
    docs += [_doc(COMPANY_A, OTHER, i, t) for i, t in enumerate(_times(150, 2))]
    docs += [_doc(COMPANY_B, MODEL, i, t) for i, t in enumerate(_times(150, 3))]
    records_db.ensure_indexes(database)
    database["records"].insert_many(docs)
    yield database, docs
    drop(database)


@pytest.fixture
def db(stored):
    """The module's database with the records only: the day counts and date spans a test made are gone."""
    database, _ = stored
    for name in database.list_collection_names():
        if name != "records":
            database[name].delete_many({})
    return database


@pytest.fixture
def loaded(stored):
    return stored[1]


def _count(db, docs, company=COMPANY_A, model=MODEL, scale=1, every=1, dated=True, late=timedelta(0)) -> None:
    """Counts the days of these records as records.add does; `scale` inflates the counts and `every` keeps
    only every n-th day (counts out of date). With `dated`, notes where each collection date's records lie
    in time, `late` after where they do (spans out of date)."""
    mine = [d for d in docs if d["company"] == company and d["model"] == model]
    per_day = Counter(d["timestamp"].date() for d in mine)
    kept = {day: n * scale for k, (day, n) in enumerate(sorted(per_day.items())) if k % every == 0}
    spans = [(d["collection_date"], d["timestamp"] + late) for d in mine] if dated else []
    record_days_db.count_days(db, company, model, kept, spans)


REQUESTS = [
    {"model": [MODEL]},
    {"model": [MODEL], "site": "s1"},
    {"model": [MODEL], "site": "s1", "season": ["q2"]},
    {"model": [MODEL], "site": ["s1", "s3"]},
    {"model": [MODEL], "user": ["u2"]},
    {"model": [MODEL], "season": "q0", "order_by": ["-timestamp"]},
    {"model": [MODEL], "site": "s2", "timestamp": [">=2024-03-04T00:00:00+00:00", "<2024-03-20T00:00:00+00:00"]},
    {"model": [MODEL], "timestamp": [">2024-03-05T03:00:00+00:00"], "order_by": ["-timestamp"]},
    {"site": "s0"},
    {"model": [MODEL], "site": "nowhere"},
    {"model": [MODEL], "collection_date": "2024-03-21"},
    {"model": [MODEL], "collection_date": ["2024-03-13", "2024-05-08"], "site": "s1"},
    {"model": [MODEL], "collection_date": "2024-06-12", "order_by": ["-timestamp"]},
]


def _expected(docs: list[dict], request: dict, company: str = COMPANY_A) -> list[str]:
    """The ids of the request's matches in its order, computed here."""
    def keep(d: dict) -> bool:
        if d["company"] != company:
            return False
        for field in ("model", "site", "season", "user", "collection_date"):
            if field in request:
                wanted = request[field] if isinstance(request[field], list) else [request[field]]
                if d[field] not in wanted:
                    return False
        for term in request.get("timestamp", []):
            op, value = (term[:2], term[2:]) if term[1] == "=" else (term[:1], term[1:])
            value = datetime.fromisoformat(value)
            if not {">=": d["timestamp"] >= value, ">": d["timestamp"] > value,
                    "<": d["timestamp"] < value}[op]:
                return False
        return True

    descending = request.get("order_by") == ["-timestamp"]
    found = sorted((d for d in docs if keep(d)), key=lambda d: (d["timestamp"], d["_id"]))
    if descending:  # -timestamp, then _id ascending
        found = sorted(found, key=lambda d: d["_id"])
        found = sorted(found, key=lambda d: d["timestamp"], reverse=True)
    return [d["_id"] for d in found]


def _page(records: Records, request: dict, page: int, size: int) -> list[str]:
    docs, _ = records.find_page({**request, "order_by": request.get("order_by", ["timestamp"]), "page": page,
                                 "page_size": size})
    return [d["id"] for d in docs]


@pytest.mark.parametrize("counts", ["exact", "inflated", "some days missing", "none for the model", "spans late",
                                    "no spans"])
def test_every_page_holds_what_one_sorted_query_gives(db, loaded, counts):
    if counts == "exact":
        _count(db, loaded)
    elif counts == "spans late":  # records a collection date's noted span leaves out come all the same
        _count(db, loaded, late=timedelta(days=2))
    elif counts == "no spans":
        _count(db, loaded, dated=False)
    elif counts == "inflated":
        _count(db, loaded, scale=50)
    elif counts == "some days missing":
        _count(db, loaded, every=3)
    else:
        _count(db, loaded, model=OTHER)  # the company has counts, this model none
    _count(db, loaded, model=OTHER)
    records = Records(db, COMPANY_A)
    assert records.time_pager() is not None  # the embedded server: pages read by windows
    for request in REQUESTS:
        expected = _expected(loaded, request)
        pages = [_page(records, request, n, 60) for n in range(0, len(expected) // 60 + 2)]
        assert [i for p in pages for i in p] == expected, request
        assert all(len(p) == 60 for p in pages[:len(expected) // 60]), request
        assert [i for n in (0, 1, 2) for i in _page(records, request, n, 1)] == expected[:3], request


def test_the_pager_reads_windows_and_the_plain_path_agrees(db, loaded):
    """Read straight through the pager (not falling back to one query) and through one sorted find."""
    _count(db, loaded)
    records = Records(db, COMPANY_A)
    pager = records.time_pager()
    for request in REQUESTS:
        match = records.stream_filter(request)
        sort = query.build_sort(records_db.SPEC, request.get("order_by") or ["timestamp"])
        for skip, limit in ((0, 10), (37, 25)):
            windowed = pager.read(records.collection, match, sort, {"_id": 1}, skip, limit,
                                  Bounded(records.collection, 0))
            assert windowed is not None, request
            plain = list(db["records"].find(match, {"_id": 1}, sort=sort, skip=skip, limit=limit))
            assert [d["_id"] for d in windowed] == [d["_id"] for d in plain], (request, skip)


def test_a_page_bounded_in_bytes_is_cut_as_before(db, loaded):
    _count(db, loaded)
    records = Records(db, COMPANY_A)
    pager = records.time_pager()
    match = records.stream_filter({"model": [MODEL]})
    sort = query.build_sort(records_db.SPEC, ["timestamp"])
    one = len(__import__("bson").encode(db["records"].find_one(match, sort=sort)))
    bound = Bounded(records.collection, one * 3 + one // 2)
    docs = pager.read(records.collection, match, sort, None, 0, 10, bound)
    assert len(docs) == 3 and bound.cut


def test_other_companies_records_never_join_a_page(db, loaded):
    _count(db, loaded, company=COMPANY_B)
    records = Records(db, COMPANY_B)
    ids = _page(records, {"model": [MODEL], "site": "s0"}, 0, 500)
    assert ids == _expected(loaded, {"model": [MODEL], "site": "s0"}, COMPANY_B) and ids


class _Aggregates(monitoring.CommandListener):
    def __init__(self):
        self.sent = 0

    def started(self, event):
        self.sent += event.command_name == "aggregate"

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def _aggregates_of_page(db, mongo_uri, request: dict, expected: list[str]) -> int:
    """Reads the first page of 5 on a client of its own; how many aggregate commands it sent."""
    listener = _Aggregates()
    client = MongoClient(mongo_uri, event_listeners=[listener], tz_aware=True)
    try:
        assert _page(Records(client[db.name], COMPANY_A), request, 0, 5) == expected[:5]
    finally:
        client.close()
    return listener.sent


@pytest.mark.parametrize("order", ["timestamp", "-timestamp"])
def test_a_page_of_one_collection_date_starts_where_its_records_do(db, loaded, mongo_uri, order):
    """With the span of the date's records noted, the first window ends a page's worth past where they
    start (or before where they end) and the page is read at once; with none noted (records stored before
    the notes), the span is looked up once and noted, and the next page reads at once too."""
    request = {"model": [MODEL], "collection_date": "2024-05-08", "order_by": [order]}
    expected = _expected(loaded, request)
    assert len(expected) >= 5
    _count(db, loaded, dated=True)
    assert _aggregates_of_page(db, mongo_uri, request, expected) == 1
    db["record_days"].delete_many({})
    _count(db, loaded, dated=False)
    assert _aggregates_of_page(db, mongo_uri, request, expected) == 2  # the look-up, then one window
    times = sorted(d["timestamp"] for d in loaded if d["company"] == COMPANY_A and d["model"] == MODEL
                   and d["collection_date"] == "2024-05-08")
    assert record_days_db.date_span(db, COMPANY_A, MODEL, "2024-05-08") == (times[0], times[-1])
    assert _aggregates_of_page(db, mongo_uri, request, expected) == 1
    # a date without records is looked up each time (an empty index range) and nothing is noted
    assert _page(Records(db, COMPANY_A), {"model": [MODEL], "collection_date": "1999-01-01"}, 0, 5) == []
    assert record_days_db.date_span(db, COMPANY_A, MODEL, "1999-01-01") is None


class _FirstMatches(monitoring.CommandListener):
    """The time condition of the first `$match` of every aggregate sent."""

    def __init__(self):
        self.conditions: list[dict] = []

    def started(self, event):
        if event.command_name == "aggregate":
            self.conditions.append(event.command["pipeline"][0]["$match"].get("timestamp") or {})

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.mark.parametrize("notes", ["exact", "spans late", "spans early", "no spans"])
@pytest.mark.parametrize("order", ["timestamp", "-timestamp"])
def test_a_range_of_collection_dates_led_by_another_field(db, loaded, mongo_uri, notes, order):
    """Several collection dates and a season: the season leads each window, and a probe of each date
    shows that none of its records lies before the dates' noted span, so the first window starts at the
    span instead of at the start of time (a season's records from the beginning were read before). Notes
    that miss a record on the side read from ("spans late" oldest first, "spans early" newest first) leave
    the first window open: the page is the same either way."""
    _count(db, loaded, dated=notes != "no spans",
           late={"spans late": timedelta(hours=6), "spans early": -timedelta(hours=6)}.get(notes, timedelta(0)))
    dates = ["2024-05-07", "2024-05-08", "2024-05-09"]
    listener = _FirstMatches()
    client = MongoClient(mongo_uri, event_listeners=[listener], tz_aware=True)
    try:
        records = Records(client[db.name], COMPANY_A)
        match = {**records.stream_filter({"model": [MODEL], "season": "q1"}),
                 "collection_date": {"$gte": dates[0], "$lt": "2024-05-10"}}
        sort = query.build_sort(records_db.SPEC, [order])
        plain = [d["_id"] for d in db["records"].find(match, {"_id": 1}, sort=sort)]
        assert len(plain) >= 8
        for skip, limit in ((0, 3), (2, 5), (0, 100)):
            listener.conditions.clear()
            windowed = records.time_pager().read(records.collection, match, sort, {"_id": 1}, skip, limit,
                                                 Bounded(records.collection, 0))
            assert [d["_id"] for d in windowed] == plain[skip:skip + limit], (skip, limit)
            first = listener.conditions[0]
            closed = ("$gte" in first) if order == "timestamp" else ("$lt" in first)
            missed = notes == ("spans late" if order == "timestamp" else "spans early")
            assert closed == (notes != "no spans" and not missed), first
    finally:
        client.close()


@pytest.mark.parametrize("order", ["timestamp", "-timestamp"])
def test_a_request_bound_on_the_span_edge_is_kept(db, loaded, order):
    """A request bound exactly at the dates' noted first (or last, newest first) record, exclusive: the
    record on it stays out, as the request says."""
    _count(db, loaded)
    dates = ["2024-05-07", "2024-05-08", "2024-05-09"]
    records = Records(db, COMPANY_A)
    base = {**records.stream_filter({"model": [MODEL], "season": "q1"}),
            "collection_date": {"$gte": dates[0], "$lt": "2024-05-10"}}
    span = records.date_span(base)
    edge = span[0] if order == "timestamp" else span[1]
    for op in (("$gt", "$gte") if order == "timestamp" else ("$lt", "$lte")):
        match = {**base, "timestamp": {op: edge}}
        sort = query.build_sort(records_db.SPEC, [order])
        plain = [d["_id"] for d in db["records"].find(match, {"_id": 1}, sort=sort, limit=20)]
        windowed = records.time_pager().read(records.collection, match, sort, {"_id": 1}, 0, 20,
                                             Bounded(records.collection, 0))
        assert [d["_id"] for d in windowed] == plain, op


def test_an_inclusive_upper_bound_keeps_the_record_on_it(client):
    """`<=` and two-value ranges of times are inclusive; the embedded server's index scans would drop a
    document equal to an inclusive bound on a field other than an index's last (records' indexes end
    with timestamp, _id), so the engine sends them as "before the next millisecond"."""
    model = client.ok("models.create", {"name": "bounded-records", "uri": "s3://b/m.pt"})["id"]
    for minute in (0, 1, 2):
        client.ok("records.add", {"model": model, "site": "s", "timestamp": f"2024-06-12T16:1{minute}:00Z",
                                  "data": {"minute": minute}}, version="2.99")

    def minutes(filters: dict) -> list[int]:
        found = client.ok("records.get_all", {"model": [model], "site": "s", **filters}, version="2.99")
        return [r["data"]["minute"] for r in found["records"]]

    assert minutes({"timestamp": ["<=2024-06-12T16:11:00Z"]}) == [0, 1]
    assert minutes({"timestamp": ["2024-06-12T16:10:00Z", "2024-06-12T16:11:00Z"]}) == [0, 1]
    assert minutes({"end_timestamp": "2024-06-12T16:11:00Z"}) == [0, 1]
    assert minutes({"timestamp": ["<=2024-06-12T16:11:00Z"], "order_by": ["-timestamp"]}) == [1, 0]
