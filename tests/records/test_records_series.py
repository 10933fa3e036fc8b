"""records.get_series: one data field over time, downsampled in the database to at most max_points
buckets (count, min, max, mean), filtered like records.get_all, scoped, and taking a long-read slot."""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta, timezone

import pytest

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


def test_buckets_hold_count_min_max_mean_of_numeric_values(client, seeded):
    reply = series(client, model=seeded, field="v", max_points=30)
    assert reply["bucket_ms"] == 598_001  # 299 minutes and 1 ms (both ends inside) in 30 buckets
    assert len(reply["buckets"]) == 30 and reply["count"] == 270
    first = reply["buckets"][0]
    assert first == {"time": START.isoformat(), "count": 9, "min": 0, "max": 8, "mean": 4}
    values = [m for m in range(290, 300) if m % 10 != 9]
    assert reply["buckets"][-1]["mean"] == pytest.approx(statistics.mean(values))
    assert reply["from"] == START.isoformat() and reply["to"] == at(299)


def test_never_more_buckets_than_asked_and_a_nested_field(client, seeded):
    for points in (1, 7, 299, 300, 5000):
        reply = series(client, model=seeded, field="nested.score", max_points=points)
        assert 1 <= len(reply["buckets"]) <= points
        assert reply["count"] == 300
        assert sum(b["count"] for b in reply["buckets"]) == 300
    whole = series(client, model=seeded, field="nested.score", max_points=1)["buckets"][0]
    assert (whole["min"], whole["max"]) == (0, pytest.approx(29.9))


def test_filters_and_time_range(client, seeded):
    north = series(client, model=seeded, field="v", site="north")
    assert north["count"] == sum(1 for m in range(300) if m % 2 and m % 10 != 9)
    assert all(b["min"] % 2 == 1 for b in north["buckets"])
    ranged = series(client, model=seeded, field="v", start_timestamp=at(100), end_timestamp=at(199), max_points=10)
    assert ranged["from"] == at(100) and ranged["buckets"][0]["min"] == 100
    assert ranged["buckets"][-1]["max"] == 198 and ranged["count"] == 90
    assert series(client, model=seeded, field="v", season=["winter"])["buckets"] == []
    empty = series(client, model=seeded, field="missing")
    assert empty["count"] == 0 and empty["buckets"] == []


def test_bad_input_names_the_field(client, seeded):
    for field in ("$where", "a..b", "", "a.$b", "x" * 101):
        meta = client.error("records.get_series", {"model": seeded, "field": field}, version=V)
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
