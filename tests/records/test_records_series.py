"""records.get_series: one data field over time, downsampled in the database to at most max_points
buckets (count, min, max, mean), filtered like records.get_all, scoped, and taking a long-read slot."""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta, timezone

import pytest

from database import clock
from database.collections import hour_spans
from tests.helpers import app_with, codes, make_user, new_company

V = "2.99"
START = datetime(2024, 5, 1, tzinfo=timezone.utc)


def new_model(client, name="series model") -> str:
    return client.ok("models.create", {"name": name, "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def add(client, model, lines: list[dict]) -> None:
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    reply = client.raw(f"/v{V}/records.add_many", body=body, headers={"Content-Type": "application/x-ndjson"},
                       query_string=f"model={model}")
    assert reply.status_code == 200 and reply.json["data"]["stored"] == len(lines), reply.text[:300]


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def series(client, **request) -> dict:
    return client.ok("records.get_series", {"max_points": 1000, **request}, version=V)


@pytest.fixture
def seeded(client):
    """300 records a minute apart: value = minute; sites alternate; every 10th value is text."""
    model = new_model(client)
    add(client, model, [{"timestamp": at(m), "site": "north" if m % 2 else "south", "season": "spring",
                         "data": {"v": "n/a" if m % 10 == 9 else m, "nested": {"score": m / 10}}}
                        for m in range(300)])
    return model


def expected(reply: dict, values: dict[int, object]) -> list[dict]:
    """The buckets computed here from {minute: value}, with the reply's start and bucket length."""
    start, width = datetime.fromisoformat(reply["from"]), timedelta(milliseconds=reply["bucket_ms"])
    groups: dict[int, list[float]] = {}
    for minute, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            groups.setdefault((START + timedelta(minutes=minute) - start) // width, []).append(value)
    return [{"time": (start + k * width).isoformat(), "count": len(v), "min": min(v), "max": max(v),
             "mean": pytest.approx(statistics.mean(v))} for k, v in sorted(groups.items())]


VALUES = {m: "n/a" if m % 10 == 9 else m for m in range(300)}


def test_buckets_hold_count_min_max_mean_of_numeric_values(client, seeded):
    reply = series(client, model=seeded, field="v", max_points=30)
    # no range asked: the counted days of the model's records, cut in 30 (48 minutes, rounded up to an hour:
    # the roll-ups serve whole hours)
    assert reply["from"] == START.isoformat()
    assert reply["to"] == (START + timedelta(days=1, milliseconds=-1)).isoformat()
    assert reply["bucket_ms"] == 3_600_000 and reply["count"] == 270
    shorter = series(client, model=seeded, field="v", max_points=60)  # 24 minutes: kept as asked
    assert shorter["bucket_ms"] == 1_440_000 and shorter["buckets"] == expected(shorter, VALUES)
    assert reply["buckets"] == expected(reply, VALUES)


def test_never_more_buckets_than_asked_and_a_nested_field(client, seeded):
    for points in (1, 7, 299, 300, 5000):
        reply = series(client, model=seeded, field="nested.score", max_points=points)
        assert 1 <= len(reply["buckets"]) <= points
        assert reply["count"] == 300
        assert reply["buckets"] == expected(reply, {m: m / 10 for m in range(300)})
    whole = series(client, model=seeded, field="nested.score", max_points=1)["buckets"][0]
    assert (whole["min"], whole["max"]) == (0, pytest.approx(29.9))


def test_without_a_field_records_are_counted(client, seeded):
    reply = series(client, model=seeded, max_points=10)
    assert reply["field"] is None and reply["count"] == 300
    assert [set(b) for b in reply["buckets"]] == [{"time", "count"}] * len(reply["buckets"])
    assert [b["count"] for b in reply["buckets"]] == [b["count"] for b in expected(reply, dict.fromkeys(range(300), 1))]


def test_filters_and_time_range(client, seeded):
    north = series(client, model=seeded, field="v", site="north")
    assert north["buckets"] == expected(north, {m: v for m, v in VALUES.items() if m % 2})
    ranged = series(client, model=seeded, field="v", start_timestamp=at(100), end_timestamp=at(199), max_points=10)
    assert ranged["from"] == at(100) and ranged["to"] == at(199)
    assert ranged["buckets"] == expected(ranged, {m: v for m, v in VALUES.items() if 100 <= m <= 199})
    assert ranged["count"] == 90
    assert series(client, model=seeded, field="v", season=["winter"])["buckets"] == []
    empty = series(client, model=seeded, field="missing")
    assert empty["count"] == 0 and empty["buckets"] == []


def test_records_outside_the_counted_days_are_found(client, seeded):
    # a record written around the API (its day not counted) still falls in a bucket
    db = client.app.modelreg_state.stores.db
    doc = db["records"].find_one({"model": seeded})
    doc.update(_id="around-the-api", timestamp=START + timedelta(days=3), data={"v": 5000})
    db["records"].insert_one(doc)
    reply = series(client, model=seeded, field="v", max_points=100)
    assert reply["to"] == (START + timedelta(days=3)).isoformat() and reply["count"] == 271
    assert reply["buckets"][-1] == {"time": reply["buckets"][-1]["time"], "count": 1, "min": 5000, "max": 5000,
                                    "mean": 5000}


def test_bad_input_names_the_field(client, seeded):
    for field in ("$where", "a..b", "", "a.$b", "x" * 101):
        meta = client.error("records.get_series", {"model": seeded, "field": field or "."}, version=V)
        assert codes(meta) == (400, 12) and "field" in meta["result_msg"], field
    for points in (0, 5001):
        meta = client.error("records.get_series", {"model": seeded, "field": "v", "max_points": points}, version=V)
        assert codes(meta) == (400, 12) and "max_points" in meta["result_msg"]
    meta = client.error("records.get_series", {"model": seeded, "field": "v", "start_timestamp": "soon"}, version=V)
    assert codes(meta) == (400, 12) and "start_timestamp" in meta["result_msg"]
    assert client.call("records.get_series", {"model": seeded, "field": "v"}, version="2.34").status_code == 404


def test_another_company_sees_nothing_and_a_guest_may_read(app, client, other_client, seeded):
    meta = other_client.error("records.get_series", {"model": seeded, "field": "v"}, version=V)
    assert codes(meta) == (400, 201)
    guest = make_user(app, "gina", client.identity["company"], role="guest")
    assert series(guest, model=seeded, field="v")["count"] == 270


def test_a_series_takes_a_long_read_slot(app_config, registry, db):
    with app_with(app_config, registry, {"streams.max_per_company": 1, "streams.max_total": 0}) as capped:
        alice = make_user(capped, "alice", new_company("a"), role="admin")
        model = new_model(alice)
        add(alice, model, [{"timestamp": at(m), "data": {"v": m}} for m in range(5)])
        release = capped.modelreg_state.stores.long_reads.acquire(alice.identity["company"])
        try:
            reply = alice.call("records.get_series", {"model": model, "field": "v"}, version=V)
            assert reply.status_code == 503 and "streams.max_per_company" in reply.json["meta"]["result_msg"]
        finally:
            release()
        assert series(alice, model=model, field="v")["count"] == 5


def test_windows_of_time_give_the_same_buckets(app_config, registry, db):
    """A long series is aggregated window by window (query.stream_window_records) and merged: the same
    buckets, however the windows cut them."""
    with app_with(app_config, registry, {"query.stream_window_records": 20}) as small:
        alice = make_user(small, "alice", new_company("a"), role="admin")
        model = new_model(alice)
        add(alice, model, [{"timestamp": at(m), "data": {"v": VALUES[m]}} for m in range(300)])
        windows = small.modelreg_state.stores.scope_for(alice.identity["company"]).records.stream_windows(
            {"company": alice.identity["company"], "model": model}, [("timestamp", 1)])
        assert len(windows) > 5  # the series below is read in several windows
        for points in (7, 100, 1000):
            reply = series(alice, model=model, field="v", max_points=points)
            assert reply["buckets"] == expected(reply, VALUES) and reply["count"] == 270


def test_a_dense_span_of_days_is_charted_in_whole_hours(app_config, registry, db):
    """Buckets under half an hour are summed from the records one by one; over a day or more holding more
    records than query.series_record_reads, the buckets are whole hours (from the roll-ups) instead."""
    with app_with(app_config, registry, {"query.series_record_reads": 30}) as small:
        alice = make_user(small, "alice", new_company("a"), role="admin")
        model = new_model(alice)
        minutes = list(range(0, 3 * 24 * 60, 20))  # three days, one record every 20 minutes: 216 records
        values = {m: m % 97 for m in minutes}
        add(alice, model, [{"timestamp": at(m), "data": {"v": values[m]}} for m in minutes])

        dense = series(alice, model=model, field="v", max_points=1000)
        assert dense["bucket_ms"] == 3_600_000 and len(dense["buckets"]) == 72
        assert dense["buckets"] == expected(dense, values) and dense["count"] == 216
        # less than a day (36 records, more than the 30 allowed): the records themselves, as finely as asked
        day = series(alice, model=model, field="v", max_points=1000,
                     start_timestamp=at(0), end_timestamp=at(12 * 60 - 1))
        assert day["bucket_ms"] < 3_600_000 // 2 and day["count"] == 36
        assert day["buckets"] == expected(day, {m: v for m, v in values.items() if m < 12 * 60})
    with app_with(app_config, registry, {"query.series_record_reads": 1000}) as roomy:
        bob = make_user(roomy, "bob", new_company("b"), role="admin")
        model = new_model(bob)
        add(bob, model, [{"timestamp": at(m), "data": {"v": values[m]}} for m in minutes])
        fine = series(bob, model=model, field="v", max_points=1000)
        assert fine["bucket_ms"] < 3_600_000 // 2 and len(fine["buckets"]) == 216  # within the reads allowed
        assert fine["buckets"] == expected(fine, values)


def test_a_range_of_centuries_is_read_as_spans(client, seeded):
    """The time outside the counted days is read from the records as spans, however long the range asked
    (two centuries: three spans, not 70,000 days of hours)."""
    reply = series(client, model=seeded, field="v", start_timestamp="1900-01-01T00:00:00Z",
                   end_timestamp="2100-01-01T00:00:00Z")
    assert reply["count"] == 270 and reply["buckets"] == expected(reply, VALUES)
    day = START.date()
    outside = hour_spans.gaps(datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc),
                              [day, day + timedelta(days=2)])
    assert outside == [(datetime(1900, 1, 1, tzinfo=timezone.utc), clock.start_of_day(day)),
                       (clock.start_of_day(day + timedelta(days=1)), clock.start_of_day(day + timedelta(days=2))),
                       (clock.start_of_day(day + timedelta(days=3)), datetime(2100, 1, 1, tzinfo=timezone.utc))]
    last_hour = (clock.start_of_day(day) + timedelta(hours=23), clock.start_of_day(day + timedelta(days=1)))
    assert hour_spans.joined(outside + [last_hour]) == [
        outside[0], (last_hour[0], clock.start_of_day(day + timedelta(days=2))), outside[2]]
