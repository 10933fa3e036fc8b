"""NDJSON streams in timestamp order read in windows of time (database/time_windows.py): the same records
in the same order as one sorted query, whatever the bounds say, each window an index range."""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from database import records_db
from database.records_db import Records
from database.scoped import PageLimits
from database.time_windows import TimeWindows, windowed_find
from server.backpressure import ClosingStream
from server.dispatcher import Dispatcher
from tests.fixtures_app import COMPANY_A, COMPANY_B, app_with, make_user

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


def _one_query(db, match: dict, sort: list) -> list[str]:
    return _ids(db["records"].find(match, {"_id": 1}, sort=sort))


def _windowed(records: Records, match: dict, sort: list) -> tuple[list[str], int]:
    """The ids a windowed read returns, and how many windows it took."""
    windows = records.stream_windows(match, sort)
    assert windows is not None
    counted = _Counting(windows)
    rest = {k: v for k, v in match.items() if k != "timestamp"}
    return _ids(windowed_find(records.collection, rest, counted, projection={"_id": 1}, sort=sort)), counted.calls


class _Counting:
    """Counts the windows a TimeWindows hands out."""

    def __init__(self, windows: TimeWindows):
        self.windows, self.calls = windows, 0

    def next(self, held=None):
        condition = self.windows.next(held)
        self.calls += condition is not None
        return condition


BOUNDS = [None, {"$gte": T0 + timedelta(days=30)}, {"$lt": T0 + timedelta(days=60)},
          {"$gt": T0 + timedelta(days=10), "$lte": T0 + timedelta(days=200)},
          {"$gte": T0 - timedelta(days=9), "$lt": T0 - timedelta(days=1)},  # before every record
          {"$gte": T0 + timedelta(days=5000)}]  # after every record


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("target", [1, 7, 60, 10_000])
def test_windows_return_what_one_sorted_query_returns(db, loaded, descending, target):
    mine = [d for d in loaded if d["company"] == COMPANY_A and d["model"] == MODEL]
    records_db.widen_bounds(db, COMPANY_A, MODEL, min(d["timestamp"] for d in mine),
                            max(d["timestamp"] for d in mine), len(mine))
    records = Records(db, COMPANY_A, PageLimits(stream_window=target))
    direction = -1 if descending else 1
    sort = [("timestamp", direction), ("_id", 1)]
    for bounds in BOUNDS:
        match = {"model": MODEL, "company": COMPANY_A, **({"timestamp": bounds} if bounds else {})}
        got, windows = _windowed(records, match, sort)
        assert got == _one_query(db, match, sort), bounds
        if bounds is None and target <= 7:
            assert windows > 10  # really read in windows
    # company-wide bounds serve a filter on another indexed field
    match = {"site": "s1", "company": COMPANY_A}
    assert _windowed(records, match, sort)[0] == _one_query(db, match, sort)


@pytest.mark.parametrize("descending", [False, True])
def test_stale_bounds_only_change_the_window_sizes(db, loaded, descending):
    """Bounds narrower than the data (records written around the API), or a count far off either way:
    the outer windows are open, so nothing is lost."""
    sort = [("timestamp", -1 if descending else 1), ("_id", 1)]
    match = {"model": MODEL, "company": COMPANY_A}
    expected = _one_query(db, match, sort)
    records = Records(db, COMPANY_A, PageLimits(stream_window=5))
    mine = sorted(d["timestamp"] for d in loaded if d["company"] == COMPANY_A and d["model"] == MODEL)
    for first, last, count in [(mine[100], mine[200], 3), (mine[-1], mine[-1], 1_000_000), (mine[0], mine[0], 1)]:
        db["record_bounds"].delete_many({})
        records_db.widen_bounds(db, COMPANY_A, MODEL, first, last, count)
        assert _windowed(records, match, sort)[0] == expected, (first, last, count)


def test_windows_are_index_ranges(db, loaded):
    """Each window's query is a compound index range on the embedded server (and on MongoDB): the
    database holds one window, not the whole match."""
    records_db.widen_bounds(db, COMPANY_A, MODEL, T0, T0 + timedelta(days=400), 300)
    records = Records(db, COMPANY_A, PageLimits(stream_window=20))
    sort = [("timestamp", 1), ("_id", 1)]
    windows = records.stream_windows({"model": MODEL, "company": COMPANY_A}, sort)
    held, seen = None, 0
    while (condition := windows.next(held)) is not None:
        query = {"model": MODEL, "company": COMPANY_A, **({"timestamp": condition} if condition else {})}
        plan = json.dumps(db.command("explain", {"find": "records", "filter": query, "sort": dict(sort)}),
                          default=str)
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, query
        held = db["records"].count_documents(query)
        seen += 1
    assert seen > 3


def test_which_streams_are_windowed(db, loaded):
    records = Records(db, COMPANY_A)
    by_time = [("timestamp", 1), ("_id", 1)]
    assert records.stream_windows({"model": MODEL, "company": COMPANY_A}, by_time) is None  # nothing known
    records_db.widen_bounds(db, COMPANY_A, MODEL, T0, T0, 1)
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
    # another company's bounds are not this one's
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
    # moved before every other record: the bounds widen with it
    alice.ok("records.edit", {"record": ids[20], "timestamp": "2020-01-01T00:00:00Z"}, version=V)
    bounds = db["record_bounds"].find_one({"company": COMPANY_A, "model": model})
    assert bounds["first"] == datetime(2020, 1, 1, tzinfo=timezone.utc) and bounds["count"] == 40
    # written around the API, later than the bounds know: still streamed, in its place
    db["records"].insert_one({"_id": uuid.uuid4().hex, "company": COMPANY_A, "user": "u", "model": model,
                              "timestamp": datetime(2030, 1, 1, tzinfo=timezone.utc), "data": {"i": -1}})
    for request in [{"model": [model]}, {"model": [model], "order_by": ["-timestamp"]},
                    {"model": [model], "start_timestamp": (T0 + timedelta(days=3)).isoformat(),
                     "end_timestamp": (T0 + timedelta(days=90)).isoformat()}, {"site": "s1"}]:
        streamed = _stream_lines(alice, request)
        assert streamed == _envelope_lines(alice, request), request
    assert len(_stream_lines(alice, {"model": [model]})) == 41


def test_a_client_going_away_closes_the_window_cursor(app_config, registry, db):
    with app_with(app_config, registry, {"query.stream_window_records": 3000}) as application:
        alice = make_user(application, "alice", COMPANY_A, role="admin")
        model = alice.ok("models.create", {"name": "windowed", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
        db["records"].insert_many([
            {"_id": uuid.uuid4().hex, "company": COMPANY_A, "user": "u", "model": model, "data": {"i": i},
             "timestamp": T0 + timedelta(seconds=i)} for i in range(6000)])
        records_db.widen_bounds(db, COMPANY_A, model, T0, T0 + timedelta(seconds=5999), 6000)
        body = json.dumps({"model": [model]}).encode()
        headers = {"AUTHORIZATION": alice.authorization, "ACCEPT": "application/x-ndjson",
                   "CONTENT-TYPE": "application/json"}
        outcome = Dispatcher(application.modelreg_state).dispatch(
            "POST", f"/v{V}/records.get_all", "", headers, {}, io.BytesIO(body), len(body))
        reader = outcome.stream.close.first.__self__
        body_iter = ClosingStream(outcome.stream.chunks, outcome.stream.close)
        assert next(body_iter).count(b"\n") == 500
        # the first window (about 3,000 records) is read ahead in part: its cursor is open on the server
        cursor = reader.cursor.gi_frame.f_locals["cursor"]
        cursor_id = cursor.cursor_id
        assert cursor_id
        body_iter.close()
        reply = db.command("killCursors", "records", cursors=[cursor_id])
        assert cursor_id in reply.get("cursorsNotFound", [])
