"""NDJSON streams in timestamp order read in windows of time (database/query/time_windows.py): the same records
in the same order as one sorted query, whatever the day counts say, each window an index range."""

from __future__ import annotations

import io
import json
import random
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone

import pytest

from database.collections import record_days_db, records_db
from database.collections.records_db import Records
from database.collections.scoped import PageLimits
from database.query.time_windows import DAY, conditions, cuts, windowed_find
from server.http.backpressure import ClosingStream
from server.http.dispatcher import Dispatcher
from tests.helpers import COMPANY_A, COMPANY_B, app_with, make_user

V = "2.99"
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
MODEL, OTHER = "m" * 32, "n" * 32


def _times(count: int, seed: int) -> list[datetime]:
    """Clusters of equal timestamps, gaps, and steady runs: what lands on a window's edge must not be
    read twice or lost."""
    rng = random.Random(seed)
    out, now = [], T0
    while len(out) < count:
        kind = rng.random()
        if kind < 0.2:
            out += [now] * rng.randint(2, 9)  # a burst at one millisecond
        elif kind < 0.3:
            now += timedelta(days=rng.randint(1, 40))  # a gap
        else:
            now += timedelta(milliseconds=rng.choice([1, 2, 500, 60_000]))
            out.append(now)
    return out[:count]


@pytest.fixture
def loaded(db):
    """300 records of MODEL (some with equal timestamps), 40 of another model, 40 of another company."""
    docs = [{"_id": uuid.uuid4().hex, "company": COMPANY_A, "model": MODEL, "timestamp": t, "site": f"s{i % 3}"}
            for i, t in enumerate(_times(300, 1))]
    docs += [{"_id": uuid.uuid4().hex, "company": COMPANY_A, "model": OTHER, "timestamp": t, "site": "s0"}
             for t in _times(40, 2)]
    docs += [{"_id": uuid.uuid4().hex, "company": COMPANY_B, "model": MODEL, "timestamp": t, "site": "s0"}
             for t in _times(40, 3)]
    records_db.ensure_indexes(db)
    db["records"].insert_many(docs)
    return docs


def _ids(docs) -> list[str]:
    return [d["_id"] for d in docs]


def _count(db, docs, company=COMPANY_A, model=MODEL) -> None:
    """Counts the days of these records as records.add does."""
    per_day = Counter(d["timestamp"].date() for d in docs if d["company"] == company and d["model"] == model)
    record_days_db.count_days(db, company, model, per_day)


def _one_query(db, match: dict, sort: list) -> list[str]:
    return _ids(db["records"].find(match, {"_id": 1}, sort=sort))


def _windowed(records: Records, match: dict, sort: list) -> tuple[list[str], int]:
    """The ids a windowed read returns, and how many windows it took."""
    windows = records.stream_windows(match, sort)
    assert windows is not None
    return _ids(windowed_find(records.collection, match, windows, projection={"_id": 1}, sort=sort)), len(windows)


def test_cuts_fill_windows_and_slice_crowded_days():
    d = [date(2024, 5, day) for day in range(1, 6)]
    start = [datetime.combine(day, time(), tzinfo=timezone.utc) for day in d]
    counts = dict(zip(d, [4, 4, 4, 25, 1], strict=True))
    # 4 + 4 fill a window; the third day starts the next; 25 on one day: three slices of 8 hours
    assert cuts(counts, 10) == [start[2], start[3], start[3] + timedelta(hours=8), start[3] + timedelta(hours=16),
                                start[4]]
    assert cuts(counts, 10, {"$gte": start[3] + timedelta(hours=12)}) == [start[3] + timedelta(hours=16), start[4]]
    assert cuts(counts, 100) == []
    assert len(cuts({d[0]: 10**9}, 10)) == 1441  # a day is cut into minutes at most
    a, b = start[0] - DAY, start[4] + DAY
    assert conditions([start[1], start[3]], {"$gte": a, "$lt": b}) == [
        {"$gte": a, "$lt": start[1]}, {"$gte": start[1], "$lt": start[3]}, {"$gte": start[3], "$lt": b}]
    assert conditions([start[1]], {"$lte": b}, descending=True) == [{"$gte": start[1], "$lte": b}, {"$lt": start[1]}]
    assert conditions([], {}) == [{}]


BOUNDS = [None, {"$gte": T0 + timedelta(days=30)}, {"$lt": T0 + timedelta(days=60)},
          {"$gt": T0 + timedelta(days=10), "$lte": T0 + timedelta(days=200)},
          {"$gte": T0 - timedelta(days=9), "$lt": T0 - timedelta(days=1)},  # before every record
          {"$gte": T0 + timedelta(days=5000)}]  # after every record


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("target", [1, 7, 60, 10_000])
def test_windows_return_what_one_sorted_query_returns(db, loaded, descending, target):
    _count(db, loaded)
    records = Records(db, COMPANY_A, PageLimits(stream_window=target))
    sort = [("timestamp", -1 if descending else 1), ("_id", 1)]
    for bounds in BOUNDS:
        match = {"model": MODEL, "company": COMPANY_A, **({"timestamp": bounds} if bounds else {})}
        got, windows = _windowed(records, match, sort)
        assert got == _one_query(db, match, sort), bounds
        if bounds is None and target <= 7:
            assert windows > 30  # really read in windows
    # the company's counts serve a filter on another indexed field
    match = {"site": "s1", "company": COMPANY_A}
    assert _windowed(records, match, sort)[0] == _one_query(db, match, sort)


@pytest.mark.parametrize("descending", [False, True])
def test_counts_out_of_date_only_change_the_window_sizes(db, loaded, descending):
    """Days not counted (records written around the API), or counts far off: the outer windows are open
    and the inner ones cover the time line, so nothing is lost or read twice."""
    sort = [("timestamp", -1 if descending else 1), ("_id", 1)]
    match = {"model": MODEL, "company": COMPANY_A}
    expected = _one_query(db, match, sort)
    records = Records(db, COMPANY_A, PageLimits(stream_window=5))
    mine = sorted(d["timestamp"] for d in loaded if d["company"] == COMPANY_A and d["model"] == MODEL)
    middle = sorted({t.date() for t in mine})[len(mine) // 40:]
    for per_day in [{day: 3 for day in middle[::3]}, {mine[150].date(): 1_000_000}, {mine[0].date(): 1},
                    {(mine[-1] + timedelta(days=30)).date(): 50}]:
        db["record_days"].delete_many({})
        record_days_db.count_days(db, COMPANY_A, MODEL, per_day)
        assert _windowed(records, match, sort)[0] == expected, per_day


def test_windows_are_index_ranges(db, loaded):
    """Each window's query is a compound index range on the embedded server (and on MongoDB): the
    database holds one window, not the whole match."""
    _count(db, loaded)
    records = Records(db, COMPANY_A, PageLimits(stream_window=20))
    sort = [("timestamp", 1), ("_id", 1)]
    windows = records.stream_windows({"model": MODEL, "company": COMPANY_A}, sort)
    assert len(windows) > 3
    for condition in windows:
        query = {"model": MODEL, "company": COMPANY_A, "timestamp": condition}
        plan = json.dumps(db.command("explain", {"find": "records", "filter": query, "sort": dict(sort)}),
                          default=str)
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, query


def test_a_calls_day_counts_are_read_once_and_follow_its_own_writes(db):
    """A call's reads (a chart's bounds, probes and windows) share one read of the day counts; the call's
    own writes of records are counted in what it reads next."""
    records = Records(db, COMPANY_A)  # one scope, as a call has
    assert records.day_counts({"model": MODEL}) == Counter()
    record_days_db.count_days(db, COMPANY_A, MODEL, {T0.date(): 5})  # written around this call
    assert records.day_counts({"model": MODEL}) == Counter()
    records.insert_many([{"_id": uuid.uuid4().hex, "model": MODEL, "timestamp": T0 + timedelta(days=1),
                          "data": {}}])
    assert records.day_counts({"model": MODEL}) == Counter({T0.date(): 5, (T0 + timedelta(days=1)).date(): 1})
    records.insert({"_id": uuid.uuid4().hex, "model": MODEL, "timestamp": T0 + timedelta(days=2), "data": {}})
    assert records.day_counts({"model": MODEL})[(T0 + timedelta(days=2)).date()] == 1
    assert Records(db, COMPANY_A).day_counts({"model": MODEL}) == records.day_counts({"model": MODEL})


def test_which_streams_are_windowed(db, loaded):
    records = Records(db, COMPANY_A)
    by_time = [("timestamp", 1), ("_id", 1)]
    assert records.stream_windows({"model": MODEL, "company": COMPANY_A}, by_time) is None  # nothing counted
    record_days_db.count_days(db, COMPANY_A, MODEL, {T0.date(): 1})
    records = Records(db, COMPANY_A)  # a later call's: a call's reads use the counts it read first
    assert records.stream_windows({"model": MODEL, "company": COMPANY_A}, by_time) is not None
    assert records.stream_windows({"model": OTHER, "company": COMPANY_A}, by_time) is None
    assert records.stream_windows({"site": "s1", "company": COMPANY_A}, by_time) is not None
    # not served as one index range by the embedded server, or not in time order: one query
    for match, sort in [({"model": MODEL, "company": COMPANY_A}, [("site", 1), ("_id", 1)]),
                        ({"site": "s1", "model": MODEL, "company": COMPANY_A}, by_time),
                        ({"model": {"$in": [MODEL, OTHER]}, "company": COMPANY_A}, by_time),
                        ({"model": MODEL, "company": COMPANY_A, "timestamp": {"$ne": T0}}, by_time),
                        ({"model": MODEL, "company": COMPANY_B}, by_time)]:
        assert records.stream_windows(match, sort) is None, match
    # another company's counts are not this one's
    assert Records(db, COMPANY_B).stream_windows({"model": MODEL, "company": COMPANY_B}, by_time) is None


# ---- through the dispatcher --------------------------------------------------------------------------------


@pytest.fixture
def small_windows(app_config, registry, db):
    with app_with(app_config, registry, {"query.stream_window_records": 3}) as application:
        yield application


@pytest.fixture
def alice(small_windows):
    return make_user(small_windows, "alice", COMPANY_A, role="admin")


def _stream_lines(client, request: dict) -> list[bytes]:
    result = client.raw(f"/v{V}/records.get_all", body=request, headers={"Accept": "application/x-ndjson"})
    assert result.status_code == 200
    return result.content.splitlines()


def _envelope_lines(client, request: dict) -> list[bytes]:
    out, scroll = [], ""
    while True:
        reply = client.ok("records.get_all", {**request, "scroll_id": scroll, "size": 7}, version=V)
        if not reply["records"]:
            return [json.dumps(r, separators=(",", ":"), ensure_ascii=True).encode() for r in out]
        out += reply["records"]
        scroll = reply["scroll_id"]


def test_api_streams_in_windows_byte_exact(alice, db):
    model = alice.ok("models.create", {"name": "windowed", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
    ids = []
    for i, when in enumerate(_times(40, 4)):
        ids.append(alice.ok("records.add", {"model": model, "timestamp": when.isoformat(), "site": f"s{i % 2}",
                                            "data": {"i": i}}, version=V)["record"]["id"])
    # moved before every other record: its new day is counted
    alice.ok("records.edit", {"record": ids[20], "timestamp": "2020-01-01T00:00:00Z"}, version=V)
    counted = list(db["record_days"].find({"company": COMPANY_A, "model": model}))
    assert sum(sum(doc["days"].values()) for doc in counted) == 41
    assert db["record_days"].find_one({"_id": f"{COMPANY_A}/{model}/2020-01"})["days"] == {"01": 1}
    # written around the API, on a day nobody counted: still streamed, in its place
    db["records"].insert_one({"_id": uuid.uuid4().hex, "company": COMPANY_A, "user": "u", "model": model,
                              "timestamp": datetime(2030, 1, 1, tzinfo=timezone.utc), "data": {"i": -1}})
    for request in [{"model": [model]}, {"model": [model], "order_by": ["-timestamp"]},
                    {"model": [model], "start_timestamp": (T0 + timedelta(days=3)).isoformat(),
                     "end_timestamp": (T0 + timedelta(days=90)).isoformat()}, {"site": "s1"}]:
        streamed = _stream_lines(alice, request)
        assert streamed == _envelope_lines(alice, request), request
    assert len(_stream_lines(alice, {"model": [model]})) == 41


def test_a_client_going_away_closes_the_window_cursor(app_config, registry, db):
    with app_with(app_config, registry, {"query.stream_window_records": 1000}) as application:
        alice = make_user(application, "alice", COMPANY_A, role="admin")
        model = alice.ok("models.create", {"name": "windowed", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
        # more than the reader can fetch before it blocks, so the cursor stays open: it holds the chunk
        # sent (500), a full queue (4 x 500 at this window size) and one batch in hand (500), 3,000
        # documents, which the database sends in round trips of 2,000 (STREAM_BATCH): 4,000 fetched at
        # most. Written in batches, so no single command holds the database for long.
        stored = 5000
        for first in range(0, stored, 500):
            db["records"].insert_many([
                {"_id": uuid.uuid4().hex, "company": COMPANY_A, "user": "u", "model": model, "data": {"i": i},
                 "timestamp": T0 + timedelta(seconds=i)} for i in range(first, first + 500)])
        # one day of 5,000: three slices of 8 hours, the first holding them all
        record_days_db.count_days(db, COMPANY_A, model, {T0.date(): stored})
        body = json.dumps({"model": [model]}).encode()
        headers = {"AUTHORIZATION": alice.authorization, "ACCEPT": "application/x-ndjson",
                   "CONTENT-TYPE": "application/json"}
        outcome = Dispatcher(application.modelreg_state).dispatch(
            "POST", f"/v{V}/records.get_all", "", headers, {}, io.BytesIO(body), len(body))
        reader = outcome.stream.close.first.__self__
        body_iter = ClosingStream(outcome.stream.chunks, outcome.stream.close)
        assert next(body_iter).count(b"\n") == 500
        # the first window is read ahead in part (a round trip's batch or two): its cursor is open
        cursor = reader.cursor.gi_frame.f_locals["cursor"]
        cursor_id = cursor.cursor_id
        assert cursor_id
        body_iter.close()
        reply = db.command("killCursors", "records", cursors=[cursor_id])
        assert cursor_id in reply.get("cursorsNotFound", [])
