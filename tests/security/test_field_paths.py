"""Field paths a listing takes from its request (`order_by`, `only_fields`, the `fields` of `_any_`/`_all_`,
filter keys under a wildcard such as `metadata.*`) reach MongoDB as field names: a segment that is empty,
starts with `$` or holds a NUL would be read as an operator or refused by the driver. Every listing
refuses such a path with the 400 of an unknown field, naming it, before anything reaches the database.
"""

from __future__ import annotations

import pytest

from tests.helpers import codes

V = "2.99"
BAD_SEGMENTS = ["design.$where", "design..x", "design.", "id.$", "name.\u0000", "$where", ".name"]


@pytest.fixture
def seeded(client):
    """One document of each listed resource, so every page reaches the database with something to read."""
    model = client.ok("models.create", {"name": "paths model", "uri": "s3://b/m.pt", "metadata": [
        {"key": "acc", "type": "float", "value": "0.9"}]}, version="2.13")["id"]
    client.ok("tasks.create", {"name": "paths task", "type": "training"}, version="2.23")
    client.ok("projects.create", {"name": "paths project"}, version="2.23")
    client.ok("datasets.create", {"model": model, "name": "paths set"}, version=V)
    client.ok("records.add", {"model": model, "data": {"x": 1}, "info": {"y": 2}}, version=V)
    return model


def _refused(client, endpoint: str, body: dict, field: str, version: str = V) -> None:
    meta = client.error(endpoint, body, version=version)
    assert codes(meta) == (400, 14), meta
    assert f"field={field}" in meta["result_msg"], meta["result_msg"]


@pytest.mark.parametrize("path", BAD_SEGMENTS)
def test_models_order_by_and_only_fields_refuse_a_bad_path(client, seeded, path):
    for key in ("order_by", "only_fields"):
        _refused(client, "models.get_all", {key: [path]}, path)
        _refused(client, "models.get_all_ex", {key: [path]}, path)
    _refused(client, "models.get_all", {"order_by": ["-" + path]}, path)


@pytest.mark.parametrize("endpoint, body, field", [
    ("projects.get_all_ex", {"order_by": ["featured.$x"]}, "featured.$x"),
    ("projects.get_all", {"only_fields": ["name.\u0000"]}, "name.\u0000"),
    ("tasks.get_all", {"order_by": ["hyperparams.$x.y"]}, "hyperparams.$x.y"),
    ("tasks.get_all_ex", {"only_fields": ["execution..x"]}, "execution..x"),
    ("datasets.get_all", {"order_by": ["info.$where"]}, "info.$where"),
    ("records.get_all", {"order_by": ["data.$where"]}, "data.$where"),
    ("records.get_all", {"order_by": ["data.x.$"]}, "data.x.$"),
    ("records.get_all", {"order_by": ["data.\u0000"]}, "data.\u0000"),
    ("records.get_all", {"only_fields": ["info.$x"]}, "info.$x"),
    ("users.get_all", {"order_by": ["name.$x"]}, "name.$x"),
])
def test_every_listing_refuses_a_bad_path(client, seeded, endpoint, body, field):
    _refused(client, endpoint, body, field)


def test_the_records_stream_refuses_a_bad_path(client, seeded):
    headers = {"Accept": "application/x-ndjson"}
    for body in ({"order_by": ["data.$where"]}, {"only_fields": ["data.\u0000"]},
                 {"_any_": {"pattern": "a", "fields": ["$where"]}}):
        reply = client.call("records.get_all", body, version=V, headers=headers)
        assert reply.status_code == 400 and reply.json["meta"]["result_subcode"] == 14, reply.text


@pytest.mark.parametrize("endpoint", ["models.get_all", "tasks.get_all", "records.get_all", "datasets.get_all"])
def test_any_and_all_fields_are_checked_like_every_field(client, seeded, endpoint):
    _refused(client, endpoint, {"_any_": {"pattern": "a", "fields": ["$where"]}}, "$where")
    _refused(client, endpoint, {"_all_": {"datetime": ">2020-01-01", "fields": ["$where"]}}, "$where")
    _refused(client, endpoint, {"_any_": {"pattern": "a", "fields": ["nosuch.$x"]}}, "nosuch.$x")
    _refused(client, endpoint, {"_or_": {"pattern": "a", "fields": ["id."]}}, "id.")
    # a column this server does not keep (the web app searches its table's columns) matches nothing
    assert client.ok(endpoint, {"_any_": {"pattern": "zzz", "fields": ["nosuch"]}}, version=V) is not None


def test_wildcard_filter_keys_are_checked(client, seeded):
    _refused(client, "models.get_all", {"metadata.acc.$where": ["x"]}, "metadata.acc.$where")
    _refused(client, "models.get_all", {"filters": {"metadata.acc.$x": {"any": {"include": ["x"]}}}},
             "metadata.acc.$x")


def test_joined_reference_fields_are_checked(client, seeded):
    _refused(client, "models.get_all_ex", {"only_fields": ["project.$where"]}, "project.$where")
    _refused(client, "tasks.get_all_ex", {"only_fields": ["parent.a\u0000"]}, "parent.a\u0000")


def test_the_csv_export_refuses_a_bad_path(client, seeded):
    body = {"entity_type": "model", "only_fields": ["name"], "field_mappings": [{"field": "name"}],
            "order_by": ["design.$where"]}
    _refused(client, "organization.prepare_download_for_get_all", body, "design.$where", version="2.26")


def test_good_paths_still_list(client, seeded):
    """Sub-paths, metadata keys that are escaped before they are stored and `$` inside a segment pass."""
    model = seeded
    listed = client.ok("models.get_all", {"id": [model], "order_by": ["-design.x", "metadata.acc", "metadata.a$b"],
                                          "only_fields": ["metadata.acc.value", "design.a$b"]}, version=V)
    assert listed["models"] == [{"design": {}, "metadata": {"acc": {"value": "0.9"}}}]
    found = client.ok("models.get_all", {"id": [model], "metadata.$acc": ["x"],
                                         "_any_": {"pattern": "paths", "fields": ["name", "design.x"]}}, version=V)
    assert found["models"] == []
    found = client.ok("models.get_all", {"id": [model], "_any_": {"pattern": "paths", "fields": ["name"]},
                                         "only_fields": ["id"]}, version=V)
    assert found["models"] == [{"id": model}]
    records = client.ok("records.get_all", {"model": [model], "order_by": ["data.x"], "only_fields": ["data.x"]},
                        version=V)["records"]
    assert records == [{"data": {"x": 1}}]
