"""Model metadata: the 2.13 list form in, a map keyed by (escaped) key stored, unescaped out."""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _db(client):
    return client.app.modelreg_state.stores.db


def _create(client, **fields) -> str:
    return client.ok("models.create", {"name": "meta-model", "uri": "s3://b/m.pt", **fields}, version=V)["id"]


def _stored(client, model_id):
    return _db(client)["models"].find_one({"_id": model_id})


def _item(key, value, type_="str"):
    return {"key": key, "type": type_, "value": value}


def test_create_with_metadata_stores_escaped_keys(client):
    model_id = _create(client, metadata=[_item("acc", "0.9", "float"), _item("a.b", "x"), _item("$x", "d"),
                                         _item("_lead", "u"), _item("50%", "p"), _item("a__b", "q")])
    stored = _stored(client, model_id)["metadata"]
    assert set(stored) == {"acc", "a%2Eb", "%24x", "%_lead", "50%%", "a%_%_b"}
    assert stored["a%2Eb"] == {"key": "a.b", "type": "str", "value": "x"}
    model = client.ok("models.get_by_id", {"model": model_id}, version=V)["model"]
    assert model["metadata"]["a.b"] == {"key": "a.b", "type": "str", "value": "x"}
    assert set(model["metadata"]) == {"acc", "a.b", "$x", "_lead", "50%", "a__b"}


def test_add_or_update_metadata_merges_or_replaces(client):
    model_id = _create(client, metadata=[_item("a", "1")])
    before = _stored(client, model_id)
    body = {"model": model_id, "metadata": [_item("b", "2"), _item("a", "3")]}
    assert client.ok("models.add_or_update_metadata", body, version="2.13") == {"updated": 1}
    doc = _stored(client, model_id)
    assert doc["metadata"] == {"a": _item("a", "3"), "b": _item("b", "2")}
    assert doc["last_update"] > before["last_update"]
    client.ok("models.add_or_update_metadata", {"model": model_id, "metadata": [_item("c", "4")],
                                                "replace_metadata": True}, version="2.13")
    assert list(_stored(client, model_id)["metadata"]) == ["c"]


def test_add_or_update_metadata_validation(client):
    model_id = _create(client)
    def error(body):
        return codes(client.error("models.add_or_update_metadata", body, version="2.13"))

    assert error({"model": model_id, "metadata": []}) == (400, 12)
    assert error({"model": model_id, "metadata": [_item("  ", "v")]}) == (400, 12)
    assert error({"model": model_id, "metadata": [{"key": "k"}]}) == (400, 12)
    assert error({"model": "nope", "metadata": [_item("k", "v")]}) == (400, 201)


def test_delete_metadata_succeeds_even_for_absent_keys(client):
    model_id = _create(client, metadata=[_item("a.b", "1"), _item("c", "2")])
    reply = client.ok("models.delete_metadata", {"model": model_id, "keys": ["a.b", "missing"]}, version="2.13")
    assert reply == {"updated": 1}
    assert list(_stored(client, model_id)["metadata"]) == ["c"]
    assert codes(client.error("models.delete_metadata", {"model": model_id, "keys": []}, version="2.13")) == (400, 12)


def test_edit_metadata_replaces_the_whole_map(client):
    model_id = _create(client, metadata=[_item("a", "1"), _item("b", "2")])
    reply = client.ok("models.edit", {"model": model_id, "metadata": [_item("x.y", "9")]}, version=V)
    assert reply["fields"]["metadata"] == {"x.y": {"key": "x.y", "type": "str", "value": "9"}}
    assert _stored(client, model_id)["metadata"] == {"x%2Ey": {"key": "x.y", "type": "str", "value": "9"}}


def test_update_metadata_and_empty_key_refused(client):
    model_id = _create(client)
    client.ok("models.update", {"model": model_id, "metadata": [_item("k", "v")]}, version=V)
    assert _stored(client, model_id)["metadata"] == {"k": {"key": "k", "type": "str", "value": "v"}}
    meta = client.error("models.update", {"model": model_id, "metadata": [_item("", "v")]}, version=V)
    assert codes(meta) == (400, 12)


def test_metadata_is_an_empty_list_up_to_2_16(client):
    model_id = _create(client, metadata=[_item("k", "v")])
    assert client.ok("models.get_by_id", {"model": model_id}, version="2.16")["model"]["metadata"] == []
    assert client.ok("models.get_by_id", {"model": model_id}, version="2.17")["model"]["metadata"]["k"]["value"] == "v"
    listed = client.ok("models.get_all", {"id": [model_id], "only_fields": ["metadata"]}, version="2.15")["models"]
    assert listed == [{"metadata": []}]


def test_metadata_filter_projection_and_order(client):
    low = _create(client, metadata=[_item("score", "2"), _item("a.b", "x")])
    high = _create(client, metadata=[_item("score", "10"), _item("a.b", "y")])
    found = client.ok("models.get_all", {"metadata.score.value": "10", "only_fields": ["id"]}, version=V)["models"]
    assert found == [{"id": high}]
    found = client.ok("models.get_all", {"metadata.a%2Eb.value": ["x"], "only_fields": ["id"]}, version=V)["models"]
    assert found == [{"id": low}]
    ordered = client.ok("models.get_all", {"id": [low, high], "order_by": ["-metadata.score.value"],
                                           "only_fields": ["id", "metadata.a%2Eb"]}, version=V)["models"]
    assert [m["id"] for m in ordered] == [high, low]  # numeric order: 10 > 2
    assert ordered[0]["metadata"] == {"a.b": {"key": "a.b", "type": "str", "value": "y"}}
