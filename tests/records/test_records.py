"""records.* through the dispatcher (JSON bodies): add, read, search, page, scroll, edit, delete, isolation.
NDJSON streaming is tests/records/test_records_stream.py; files are tests/records/test_records_files.py."""

from __future__ import annotations

import pytest

from tests.helpers import codes

V = "2.99"


def new_model(client, name="field model") -> str:
    return client.ok("models.create", {"name": name, "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def add(client, model, **fields) -> dict:
    return client.ok("records.add", {"model": model, **fields}, version=V)["record"]


@pytest.fixture
def model(client):
    return new_model(client)


@pytest.fixture
def field_records(client, model):
    """Six records over three sites, two seasons, two experiments and a dataset, an hour apart."""
    client.ok("datasets.create", {"model": model, "name": "plots"}, version=V)
    out = []
    for i in range(6):
        out.append(add(client, model, timestamp=f"2024-05-01T0{i}:00:00Z", experiment=f"exp{i % 2}",
                       season="spring" if i < 3 else "summer", site=f"site{i % 3}",
                       collection_date=f"2024-04-0{1 + i % 2}", dataset="plots" if i in (1, 4) else None,
                       data={"i": i, "scores": [i, i * 2]}, info={"note": f"n{i}"}))
    return out


def test_add_and_get_by_id(client, model):
    record = add(client, model, timestamp="2024-05-01T10:00:00+02:00", collection_date="2024-04-30",
                 data={"yield": 4.2, "labels": ["a"]}, experiment="exp", season="spring", site="north",
                 info={"device": "cam-1"})
    got = client.ok("records.get_by_id", {"record": record["id"]}, version=V)["record"]
    assert got == record
    assert got["timestamp"] == "2024-05-01T08:00:00+00:00" and got["model"] == model
    assert (got["data"], got["experiment"], got["season"], got["site"], got["info"]) == (
        {"yield": 4.2, "labels": ["a"]}, "exp", "spring", "north", {"device": "cam-1"})
    assert "file" not in got
    # data may be any JSON, and the timestamp defaults to now
    assert add(client, model, data="plain text")["data"] == "plain text"
    assert add(client, model)["timestamp"]


def test_add_checks_its_fields(client, model):
    assert codes(client.error("records.add", {"model": "nope"}, version=V)) == (400, 201)
    meta = client.error("records.add", {"model": model, "timestamp": "yesterday"}, version=V)
    assert codes(meta) == (400, 12) and "timestamp" in meta["result_msg"]
    meta = client.error("records.add", {"model": model, "collection_date": "2024-4-1"}, version=V)
    assert codes(meta) == (400, 12) and "collection_date" in meta["result_msg"]
    meta = client.error("records.add", {"model": model, "dataset": "no such set"}, version=V)
    assert codes(meta) == (400, 1101)
    assert codes(client.error("records.add", {"model": model, "info": [1]}, version=V)) == (400, 12)


def test_dataset_by_id_or_name_within_the_model(client, model):
    ds = client.ok("datasets.create", {"model": model, "name": "plots"}, version=V)["id"]
    assert add(client, model, dataset="plots")["dataset"] == ds
    assert add(client, model, dataset=ds)["dataset"] == ds
    other = new_model(client, "second model")
    assert codes(client.error("records.add", {"model": other, "dataset": ds}, version=V)) == (400, 1101)


def ids(client, **request):
    return [r["id"] for r in client.ok("records.get_all", request, version=V)["records"]]


def test_get_all_filters(client, model, field_records):
    r = [x["id"] for x in field_records]
    ds = client.ok("datasets.get_all", {"name": "^plots$"}, version=V)["datasets"][0]["id"]
    assert ids(client, model=[model]) == r  # default order: timestamp
    assert ids(client, experiment="exp1") == [r[1], r[3], r[5]]
    assert ids(client, season=["summer"], site=["site0", "site1"]) == [r[3], r[4]]
    assert ids(client, site="site2") == [r[2], r[5]]
    assert ids(client, dataset=[ds]) == [r[1], r[4]]
    assert ids(client, collection_date="2024-04-02") == [r[1], r[3], r[5]]
    assert ids(client, collection_date_range=["2024-04-02", None]) == [r[1], r[3], r[5]]
    assert ids(client, collection_date_range=[None, "2024-04-01"]) == [r[0], r[2], r[4]]
    assert ids(client, collection_date_range=["2024-04-01", "2024-04-01"], site="site0") == [r[0]]
    assert ids(client, end_timestamp="2024-05-01T01:00:00.000999Z") == r[:2]
    assert ids(client, start_timestamp="2024-05-01T02:00:00Z", end_timestamp="2024-05-01T04:00:00Z") == r[2:5]
    assert ids(client, start_timestamp="2024-05-01T05:00:00+01:00") == r[4:]
    assert ids(client, season="spring", order_by=["-timestamp"]) == [r[2], r[1], r[0]]
    only = client.ok("records.get_all", {"site": "site0", "only_fields": ["id", "data"]}, version=V)["records"]
    assert only == [{"id": r[0], "data": {"i": 0, "scores": [0, 0]}}, {"id": r[3], "data": {"i": 3, "scores": [3, 6]}}]
    assert codes(client.error("records.get_all", {"collection_date_range": [None, "2024-13-45"]}, version=V)) == (
        400, 12)
    meta = client.error("records.get_all", {"start_timestamp": "soon"}, version=V)
    assert codes(meta) == (400, 12) and "start_timestamp" in meta["result_msg"]


def test_get_all_pages_and_scrolls(client, field_records):
    r = [x["id"] for x in field_records]
    assert ids(client, page=1, page_size=4) == r[4:]
    first = client.ok("records.get_all", {"scroll_id": "", "size": 4}, version=V)
    rest = client.ok("records.get_all", {"scroll_id": first["scroll_id"], "size": 4}, version=V)
    end = client.ok("records.get_all", {"scroll_id": first["scroll_id"], "size": 4}, version=V)
    assert [x["id"] for x in first["records"] + rest["records"]] == r and end["records"] == []


def test_edit_is_a_patch(client, model, field_records):
    record = field_records[1]
    reply = client.ok("records.edit", {"record": record["id"], "data": {"new": True}, "site": "east",
                                       "season": None, "dataset": None}, version=V)
    got = reply["record"]
    assert reply["updated"] == 1
    assert got["data"] == {"new": True} and got["site"] == "east" and "season" not in got and "dataset" not in got
    assert (got["experiment"], got["info"], got["timestamp"]) == (record["experiment"], record["info"],
                                                                  record["timestamp"])
    assert client.ok("records.edit", {"record": record["id"]}, version=V)["updated"] == 0
    got = client.ok("records.edit", {"record": record["id"], "dataset": "plots", "info": {"x": 1}},
                    version=V)["record"]
    assert got["dataset"] and got["info"] == {"x": 1}


def test_delete_and_delete_many(client, field_records):
    r = [x["id"] for x in field_records]
    assert client.ok("records.delete", {"record": r[0]}, version=V) == {"deleted": 1}
    assert codes(client.error("records.delete", {"record": r[0]}, version=V)) == (400, 1111)
    reply = client.ok("records.delete_many", {"ids": [r[1], r[2], "missing"]}, version=V)
    assert reply == {"deleted": 2, "not_found": ["missing"]}
    assert ids(client) == r[3:]


def test_deleting_the_model_refuses_while_it_has_records_unless_force(app, client, model, field_records):
    meta = client.error("models.delete", {"model": model}, version="2.13")
    assert codes(meta) == (400, 1103)
    assert client.ok("records.get_by_id", {"record": field_records[0]["id"]}, version=V)
    days = app.modelreg_state.stores.db["record_days"]
    assert days.count_documents({"model": model}) >= 1  # what the stream planner knows of its records
    assert client.ok("models.delete", {"model": model, "force": True}, version="2.13")["deleted"]
    assert ids(client) == [] and client.ok("datasets.get_all", {}, version=V)["datasets"] == []
    assert days.count_documents({"model": model}) == 0
    # a model with datasets only is refused too
    other = new_model(client, "second model")
    client.ok("datasets.create", {"model": other, "name": "plots"}, version=V)
    failed = client.ok("models.delete_many", {"ids": [other]}, version="2.13")["failed"]
    assert [f["error"]["codes"] for f in failed] == [[400, 1103]]
    assert codes(client.error("models.delete", {"model": other}, version="2.13")) == (400, 1103)


def test_other_company_cannot_read_change_or_delete(client, other_client, model, field_records):
    record = field_records[0]["id"]
    assert codes(other_client.error("records.get_by_id", {"record": record}, version=V)) == (400, 1111)
    assert other_client.ok("records.get_all", {}, version=V)["records"] == []
    assert other_client.ok("records.get_all", {"model": [model], "id": [record]}, version=V)["records"] == []
    assert codes(other_client.error("records.edit", {"record": record, "data": 1}, version=V)) == (400, 1111)
    assert codes(other_client.error("records.delete", {"record": record}, version=V)) == (400, 1111)
    assert other_client.ok("records.delete_many", {"ids": [record]}, version=V) == {"deleted": 0,
                                                                                  "not_found": [record]}
    assert codes(other_client.error("records.add", {"model": model}, version=V)) == (400, 201)
    assert client.ok("records.get_by_id", {"record": record}, version=V)["record"]["data"] == {"i": 0,
                                                                                            "scores": [0, 0]}
    assert len(ids(client)) == 6
