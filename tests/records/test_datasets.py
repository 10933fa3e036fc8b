"""datasets.* through the dispatcher: create, read, the shared query engine, edit, delete, isolation."""

from __future__ import annotations

import pytest

from tests.helpers import codes

V = "2.99"


def new_model(client, name="field model") -> str:
    return client.ok("models.create", {"name": name, "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def new_dataset(client, model, name, **fields) -> str:
    return client.ok("datasets.create", {"model": model, "name": name, **fields}, version=V)["id"]


@pytest.fixture
def model(client):
    return new_model(client)


def test_create_and_get(client, model):
    project = client.ok("projects.create", {"name": "field trials", "description": "x"}, version="2.13")["id"]
    ds = new_dataset(client, model, "spring", project=project, experiment="exp-1", collection_date="2024-04-01",
                     info={"rows": 3}, tags=["a"])
    got = client.ok("datasets.get_by_id", {"dataset": ds}, version=V)["dataset"]
    assert got["id"] == ds and got["model"] == model and got["project"] == project
    assert (got["experiment"], got["collection_date"], got["info"], got["tags"]) == ("exp-1", "2024-04-01",
                                                                                       {"rows": 3}, ["a"])


def test_name_is_unique_per_model(client, model):
    new_dataset(client, model, "spring")
    assert codes(client.error("datasets.create", {"model": model, "name": "spring"}, version=V)) == (400, 801)
    other = new_model(client, "second model")
    new_dataset(client, other, "spring")  # the same name in another model is fine


def test_create_checks_model_and_fields(client, other_client, model):
    assert codes(client.error("datasets.create", {"model": "nope", "name": "x"}, version=V)) == (400, 201)
    meta = client.error("datasets.create", {"model": model, "name": "x", "collection_date": "April"}, version=V)
    assert codes(meta) == (400, 12) and "collection_date" in meta["result_msg"]
    assert codes(client.error("datasets.create", {"model": model}, version=V)) == (400, 12)
    # another company cannot hang datasets on this model
    assert codes(other_client.error("datasets.create", {"model": model, "name": "x"}, version=V)) == (400, 201)
    # not below the extension version
    assert client.call("datasets.create", {"model": model, "name": "x"}, version="2.34").status_code == 404


def test_get_all_filters_order_paging_and_scroll(client, model):
    other = new_model(client, "second model")
    for i, (m, exp, date) in enumerate([(model, "e1", "2024-01-05"), (model, "e2", "2024-02-05"),
                                        (model, "e1", "2024-03-05"), (other, "e1", "2024-04-05")]):
        new_dataset(client, m, f"set-{i}", experiment=exp, collection_date=date, tags=["t"] if i % 2 else [])

    def names(**request):
        return [d["name"] for d in client.ok("datasets.get_all", request, version=V)["datasets"]]

    assert names(model=[model], order_by=["name"]) == ["set-0", "set-1", "set-2"]
    assert names(experiment="e1", order_by=["-name"]) == ["set-3", "set-2", "set-0"]
    assert names(name="^set-[12]$", order_by=["name"]) == ["set-1", "set-2"]
    assert names(tags=["t"], order_by=["name"]) == ["set-1", "set-3"]
    assert names(collection_date_range=["2024-02-01", "2024-03-31"], order_by=["name"]) == ["set-1", "set-2"]
    assert names(collection_date_range=[None, "2024-01-31"]) == ["set-0"]
    assert names(collection_date=["2024-04-05"]) == ["set-3"]
    assert names(order_by=["collection_date"], page=1, page_size=3) == ["set-3"]
    assert [d["name"] for d in client.ok("datasets.get_all_ex", {"model": [other]}, version=V)["datasets"]] == ["set-3"]
    first = client.ok("datasets.get_all", {"order_by": ["name"], "scroll_id": "", "size": 3}, version=V)
    rest = client.ok("datasets.get_all", {"order_by": ["name"], "scroll_id": first["scroll_id"], "size": 3},
                     version=V)
    assert [d["name"] for d in first["datasets"] + rest["datasets"]] == [f"set-{i}" for i in range(4)]
    assert codes(client.error("datasets.get_all", {"name": "("}, version=V)) == (400, 21)
    assert codes(client.error("datasets.get_all", {"order_by": ["nosuch"]}, version=V)) == (400, 14)


def test_edit_leaves_null_fields_alone(client, model):
    ds = new_dataset(client, model, "spring", experiment="exp-1", info={"a": 1})
    reply = client.ok("datasets.edit", {"dataset": ds, "experiment": None, "info": {"b": 2}, "name": "summer"},
                      version=V)
    assert reply["updated"] == 1 and reply["fields"] == {"info": {"b": 2}, "name": "summer"}
    got = client.ok("datasets.get_by_id", {"dataset": ds}, version=V)["dataset"]
    assert (got["name"], got["experiment"], got["info"]) == ("summer", "exp-1", {"b": 2})
    assert client.ok("datasets.edit", {"dataset": ds, "name": None}, version=V)["updated"] == 0
    new_dataset(client, model, "autumn")
    assert codes(client.error("datasets.edit", {"dataset": ds, "name": "autumn"}, version=V)) == (400, 801)


def test_delete_refused_while_records_use_it_unless_force(client, model):
    ds = new_dataset(client, model, "spring")
    record = client.ok("records.add", {"model": model, "dataset": "spring", "data": [1]}, version=V)["record"]
    assert record["dataset"] == ds
    meta = client.error("datasets.delete", {"dataset": ds}, version=V)
    assert codes(meta) == (400, 1102)
    assert client.ok("datasets.delete", {"dataset": ds, "force": True}, version=V) == {"deleted": 1,
                                                                                       "deleted_records": 1}
    assert codes(client.error("records.get_by_id", {"record": record["id"]}, version=V)) == (400, 1111)
    assert codes(client.error("datasets.get_by_id", {"dataset": ds}, version=V)) == (400, 1101)


def test_other_company_sees_nothing(client, other_client, model):
    ds = new_dataset(client, model, "spring")
    assert codes(other_client.error("datasets.get_by_id", {"dataset": ds}, version=V)) == (400, 1101)
    assert other_client.ok("datasets.get_all", {}, version=V)["datasets"] == []
    assert other_client.ok("datasets.get_all", {"id": [ds]}, version=V)["datasets"] == []
    assert codes(other_client.error("datasets.edit", {"dataset": ds, "name": "mine"}, version=V)) == (400, 1101)
    assert codes(other_client.error("datasets.delete", {"dataset": ds, "force": True}, version=V)) == (400, 1101)
    assert codes(other_client.error("models.get_datasets", {"model": model}, version=V)) == (400, 201)
    got = client.ok("datasets.get_by_id", {"dataset": ds}, version=V)["dataset"]
    assert got["name"] == "spring"
