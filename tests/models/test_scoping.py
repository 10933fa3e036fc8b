"""Company scoping: reads see own + public models, writes touch own models only."""

from __future__ import annotations

import pytest

from database.collections.scope import Scope
from tests.helpers import codes

V = "2.23"


def _db(client):
    return client.app.modelreg_state.stores.db


def _create(client, **fields) -> str:
    return client.ok("models.create", {"name": "scoped-model", "uri": "s3://b/m.pt", **fields}, version=V)["id"]


def _stored(client, model_id):
    return _db(client)["models"].find_one({"_id": model_id})


@pytest.fixture
def private_model(client):
    return _create(client, framework="Keras", tags=["t1"])


def test_other_company_cannot_read_a_private_model(client, other_client, private_model):
    assert codes(other_client.error("models.get_by_id", {"model": private_model}, version=V)) == (400, 201)
    assert other_client.ok("models.get_all", {"id": [private_model]}, version=V)["models"] == []
    assert other_client.ok("models.get_all_ex", {"id": [private_model]}, version=V)["models"] == []
    assert other_client.ok("models.get_by_id_ex", {"id": [private_model]}, version="2.11")["models"] == []
    assert "Keras" not in other_client.ok("models.get_frameworks", {}, version="2.8")["frameworks"]
    assert client.ok("models.get_frameworks", {}, version="2.8")["frameworks"] == ["Keras"]


@pytest.mark.parametrize("endpoint, body, version", [
    ("models.edit", {"name": "hijacked"}, V),
    ("models.update", {"name": "hijacked"}, V),
    ("models.delete", {}, V),
    ("models.set_ready", {}, V),
    ("models.add_or_update_metadata", {"metadata": [{"key": "k", "type": "str", "value": "v"}]}, V),
    ("models.delete_metadata", {"keys": ["k"]}, V),
])
def test_other_company_cannot_write_a_private_model(client, other_client, private_model, endpoint, body, version):
    before = _stored(client, private_model)
    meta = other_client.error(endpoint, {"model": private_model, **body}, version=version)
    assert codes(meta) == (400, 201)
    assert _stored(client, private_model) == before


def test_other_company_batch_writes_fail_per_id(client, other_client, private_model):
    before = _stored(client, private_model)
    for endpoint in ("models.archive_many", "models.publish_many", "models.delete_many"):
        reply = other_client.ok(endpoint, {"ids": [private_model]}, version=V)
        assert reply["succeeded"] == [] and reply["failed"][0]["error"]["codes"] == [400, 201]
    assert other_client.ok("models.update_tags", {"ids": [private_model], "add_tags": ["x"]},
                           version="2.27") == {"updated": 0}
    project = Scope(_db(other_client), other_client.identity["company"]).projects.create_project("u", "theirs")["_id"]
    other_client.ok("models.move", {"ids": [private_model], "project": project}, version="2.12")
    other_client.ok("models.move", {"ids": [private_model], "project_name": "elsewhere"}, version="2.12")
    meta = other_client.error("models.make_public", {"ids": [private_model]}, version="2.9")
    assert codes(meta) == (400, 201) and private_model in meta["result_msg"]
    assert _stored(client, private_model) == before


def test_public_models_are_readable_by_everyone_but_writable_by_none(client, other_client, private_model):
    assert client.ok("models.make_public", {"ids": [private_model]}, version="2.9") == {"updated": 1}
    doc = _stored(client, private_model)
    assert doc["company"] == "" and doc["company_origin"] == client.identity["company"]
    for reader in (client, other_client):
        assert reader.ok("models.get_by_id", {"model": private_model}, version=V)["model"]["id"] == private_model
        listed = reader.ok("models.get_all", {"id": [private_model], "only_fields": ["id", "company"]}, version=V)
        assert listed["models"] == [{"id": private_model, "company": ""}]
        assert "Keras" in reader.ok("models.get_frameworks", {}, version="2.8")["frameworks"]
    ex = other_client.ok("models.get_all_ex", {"id": [private_model]}, version="2.20")["models"]
    assert ex[0]["company"] == {}
    assert other_client.ok("models.get_all_ex", {"id": [private_model], "allow_public": False},
                           version="2.20")["models"] == []
    # public models are nobody's to edit, the origin company included; only their owner may delete them
    for writer in (client, other_client):
        assert codes(writer.error("models.edit", {"model": private_model, "comment": "x"}, version=V)) == (400, 201)
    assert codes(other_client.error("models.delete", {"model": private_model}, version=V)) == (400, 201)
    # only the origin company may make it private again
    assert codes(other_client.error("models.make_private", {"ids": [private_model]}, version="2.9")) == (400, 201)
    assert client.ok("models.make_private", {"ids": [private_model]}, version="2.9") == {"updated": 1}
    doc = _stored(client, private_model)
    assert doc["company"] == client.identity["company"] and "company_origin" not in doc
    assert codes(other_client.error("models.get_by_id", {"model": private_model}, version=V)) == (400, 201)


def test_make_public_needs_every_id_to_be_own(client, other_client, private_model):
    foreign = _create(other_client)
    meta = client.error("models.make_public", {"ids": [private_model, foreign]}, version="2.9")
    assert codes(meta) == (400, 201) and meta["result_msg"] == f"Invalid model id: ids=({foreign})"
    assert _stored(client, private_model)["company"] == client.identity["company"]


def test_created_public_model_can_be_taken_back_by_its_company_only(client, other_client):
    model_id = _create(client, public=True)
    assert codes(other_client.error("models.make_private", {"ids": [model_id]}, version="2.9")) == (400, 201)
    assert client.ok("models.make_private", {"ids": [model_id]}, version="2.9") == {"updated": 1}
    assert _stored(client, model_id)["company"] == client.identity["company"]


def test_a_shared_model_can_be_deleted_by_its_owner_only(app, client, other_client):
    from tests.helpers import make_user

    model_id = _create(client, public=True)
    colleague = make_user(app, "carol", client.identity["company"], role="user")
    for outsider in (other_client, colleague):  # another company; a plain user who did not register it
        assert codes(outsider.error("models.delete", {"model": model_id}, version=V)) == (400, 201)
    assert client.ok("models.delete", {"model": model_id}, version=V)["deleted"] is True
    assert _db(client)["models"].find_one({"_id": model_id}) is None


def test_company_origin_is_only_returned_when_listed(client, private_model):
    client.ok("models.make_public", {"ids": [private_model]}, version="2.9")
    plain = client.ok("models.get_all", {"id": [private_model]}, version=V)["models"][0]
    assert "company_origin" not in plain
    listed = client.ok("models.get_all", {"id": [private_model], "only_fields": ["company_origin"]}, version=V)
    assert listed["models"] == [{"company_origin": client.identity["company"]}]


def test_move_by_id_and_by_name(client, private_model):
    project = Scope(_db(client), client.identity["company"]).projects.create_project("u", "target")["_id"]
    assert client.ok("models.move", {"ids": [private_model, "unknown"], "project": project},
                     version="2.12") == {"project_id": project}
    assert _stored(client, private_model)["project"] == project
    reply = client.ok("models.move", {"ids": [private_model], "project_name": "deep/path/here"}, version="2.12")
    created = Scope(_db(client), client.identity["company"]).projects.find_by_name("deep/path/here")
    assert reply["project_id"] == created["_id"] and _stored(client, private_model)["project"] == created["_id"]
    assert Scope(_db(client), client.identity["company"]).projects.find_by_name("deep/path") is not None
    assert client.ok("models.move", {"ids": [private_model], "project": None}, version="2.12") == {"project_id": None}
    assert _stored(client, private_model)["project"] is None
    assert codes(client.error("models.move", {"ids": [private_model]}, version="2.12")) == (400, 11)
    assert codes(client.error("models.move", {"ids": [private_model], "project": "nope"}, version="2.12")) == (400, 401)


def test_move_to_a_foreign_or_public_project(client, other_client, private_model):
    foreign = Scope(_db(other_client), other_client.identity["company"]).projects.create_project("u", "foreign")["_id"]
    meta = client.error("models.move", {"ids": [private_model], "project": foreign}, version="2.12")
    assert codes(meta) == (400, 401)
    Scope(_db(client), "").projects.create_project("u", "shared-space")
    meta = client.error("models.move", {"ids": [private_model], "project_name": "shared-space"}, version="2.12")
    assert codes(meta) == (400, 414)
