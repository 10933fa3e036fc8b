"""Bounded work and storable bodies: what one call may hold, checked before any handler runs, and
replies that stay valid JSON even when a stored document is not."""

from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import codes

V = "2.13"


def body_error(client, endpoint: str, raw: bytes | str, version: str = V) -> dict:
    result = client.raw(f"/v{version}/{endpoint}", raw, headers={"Content-Type": "application/json"})
    meta = result.json["meta"]
    assert result.status_code == meta["result_code"] != 200, meta
    return meta


def test_100000_nested_brackets_are_a_400_not_a_500(client):
    meta = body_error(client, "models.create", "[" * 100_000)
    assert codes(meta) == (400, 12) and "nested deeper than" in meta["result_msg"]
    meta = body_error(client, "models.create", '{"name": "x", "uri": "s3://a/b", "design": ' + "[" * 100_000)
    assert codes(meta) == (400, 12)


def test_a_free_form_field_nested_too_deep_is_refused_naming_it(client, app):
    depth = int(app.modelreg_state.stores.config.get("server.max_json_depth"))
    design: dict = {}
    inner = design
    for _ in range(depth + 5):
        inner["a"] = {}
        inner = inner["a"]
    meta = client.error("models.create", {"name": "deep", "uri": "s3://a/b", "design": design}, version=V)
    assert codes(meta) == (400, 12)
    assert "'design.a.a" in meta["result_msg"] and f"nested deeper than {depth} levels" in meta["result_msg"]
    assert client.ok("models.get_all", {"name": "deep"}, version=V)["models"] == []
    shallow = {"a": {"b": {"c": [1, [2, [3]]]}}}
    model_id = client.ok("models.create", {"name": "fine", "uri": "s3://a/b", "design": shallow}, version=V)["id"]
    assert client.ok("models.get_by_id", {"model": model_id}, version=V)["model"]["design"] == shallow


@pytest.mark.parametrize("field, raw_value", [
    ("labels", '{"cat": NaN}'),
    ("design", '{"x": Infinity}'),
    ("design", '{"x": [1, -Infinity]}'),
    ("labels", '{"dog": 1e999}'),
])
def test_nan_and_infinity_are_refused_naming_the_field(client, field, raw_value):
    raw = f'{{"name": "nan", "uri": "s3://a/b", "{field}": {raw_value}}}'
    meta = body_error(client, "models.create", raw)
    assert codes(meta) == (400, 12)
    assert f"'{field}." in meta["result_msg"] and "NaN and Infinity" in meta["result_msg"]


def test_a_field_larger_than_the_limit_is_refused_naming_it(client, app):
    limit = int(app.modelreg_state.stores.config.get("server.max_field_bytes"))
    meta = client.error("models.create", {"name": "big", "uri": "s3://a/b", "design": {"t": "x" * limit}}, version=V)
    assert codes(meta) == (400, 12) and "'design'" in meta["result_msg"] and str(limit) in meta["result_msg"]


def test_more_ids_than_the_limit_are_a_400_naming_the_field(client, app):
    limit = int(app.modelreg_state.stores.config.get("query.max_ids"))
    ids = [f"{n:032x}" for n in range(limit + 1)]
    for endpoint, data in (
        ("models.archive_many", {"ids": ids}),
        ("models.delete_many", {"ids": ids}),
        ("models.get_all", {"id": ids}),
        ("models.update_tags", {"ids": ids[:1], "add_tags": ids}),
    ):
        meta = client.error(endpoint, data, version="2.27")
        assert codes(meta) == (400, 12), (endpoint, meta)
        assert f"at most {limit} items" in meta["result_msg"] and "'" in meta["result_msg"]
    assert client.ok("models.get_all", {"id": ids[:limit]}, version=V)["models"] == []  # the limit itself is fine


def test_a_search_text_longer_than_the_database_accepts_is_400_21(client):
    client.ok("models.create", {"name": "needle", "uri": "s3://a/b"}, version=V)
    meta = client.error("models.get_all", {"search_text": "n" * 10_000}, version=V)
    assert codes(meta) == (400, 21) and "search_text" in meta["result_msg"]
    meta = client.error("models.get_all", {"search_text": "." * 600}, version=V)  # 1,200 once escaped
    assert codes(meta) == (400, 21)
    assert [m["name"] for m in client.ok("models.get_all", {"search_text": "needle"}, version=V)["models"]] == [
        "needle"]


def test_a_pattern_longer_than_the_limit_is_400_21(client):
    meta = client.error("models.get_all", {"name": "a" * 10_000}, version=V)
    assert codes(meta) == (400, 21) and "name" in meta["result_msg"]


def test_a_listing_skips_a_stored_document_it_cannot_send(client, db, caplog):
    """Defence in depth: documents written before the limits (or by other means) cannot fail a listing
    for everyone: one the database cannot send is left out with a logged error, a NaN is sent as null, and
    the reply stays valid JSON."""
    good = client.ok("models.create", {"name": "good", "uri": "s3://a/good"}, version=V)["id"]
    poisoned = client.ok("models.create", {"name": "nan", "uri": "s3://a/nan"}, version=V)["id"]
    deep = client.ok("models.create", {"name": "deep", "uri": "s3://a/deep"}, version=V)["id"]
    nested: list = []
    for _ in range(600):  # deeper than the embedded database can project (a dotted field is its to project)
        nested = [nested]
    db.models.update_one({"_id": poisoned}, {"$set": {"labels": {"cat": float("nan")}}})
    db.models.update_one({"_id": deep}, {"$set": {"design": {"d": nested}}})
    with caplog.at_level(logging.ERROR):
        result = client.call("models.get_all", {"only_fields": ["id", "name", "labels", "design.d"]}, version=V)
    assert result.status_code == 200
    assert b"NaN" not in result.content
    listed = json.loads(result.content)["data"]["models"]
    assert [(m["id"], m.get("labels")) for m in listed] == [(good, {}), (poisoned, {"cat": None})]
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert deep in logged and poisoned not in logged
    model = client.ok("models.get_by_id", {"model": poisoned}, version=V)["model"]
    assert model["labels"] == {"cat": None}
