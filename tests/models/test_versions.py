"""Every models endpoint and version the schema declares, and the behaviour that differs by version."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import codes, shipped_registry


def _declared():
    registry = shipped_registry()
    return [(name, versions) for name, versions in sorted(registry.endpoints.items()) if name.startswith("models.")]


DECLARED = _declared()
HANDLED_HERE = {
    "get_by_id", "get_by_task_id", "get_by_id_ex", "get_all_ex", "get_all", "get_frameworks", "update_for_task",
    "create", "edit", "update", "publish_many", "archive_many", "unarchive_many", "delete_many", "set_ready",
    "delete", "make_public", "make_private", "move", "add_or_update_metadata", "delete_metadata", "update_tags",
}


def _db(client):
    return client.app.modelreg_state.stores.db


def _create(client, version="2.23", **fields) -> str:
    return client.ok("models.create", {"name": "versioned", "uri": "s3://b/m.pt", **fields}, version=version)["id"]


def _task(client, status="created", **fields) -> str:
    doc = {"_id": uuid.uuid4().hex, "company": client.identity["company"], "name": "version-task",
           "type": "training", "status": status, "models": {"input": [], "output": []}, **fields}
    _db(client)["tasks"].insert_one(doc)
    return doc["_id"]


def test_every_clearml_models_endpoint_is_declared():
    declared = {name.split(".", 1)[1] for name, _ in DECLARED}
    assert declared >= HANDLED_HERE


@pytest.mark.parametrize("name, version", [
    (name, v.version) for name, versions in DECLARED for v in versions if name.split(".", 1)[1] in HANDLED_HERE
])
def test_each_declared_version_is_served(client, name, version):
    """An empty body reaches the handler of every version: a validation error or a reply, never 404."""
    text = f"{version[0]}.{version[1]}"
    result = client.call(name, {}, version=text)
    meta = result.json["meta"]
    assert meta["endpoint"]["actual_version"] == text
    if name in ("models.get_by_task_id", "models.update_for_task") and version > (2, 13):
        assert codes(meta) == (301, 1)
    else:
        assert meta["result_code"] in (200, 400), meta


@pytest.mark.parametrize("name, first", [
    (name, versions[0].version) for name, versions in DECLARED if name.split(".", 1)[1] in HANDLED_HERE
])
def test_served_from_the_clearml_registration_version(client, name, first):
    """ClearML serves a handler from its registered version (1.0 unless it says otherwise), below the
    first schema version too; below that, 404."""
    floor = client.registry.floor(name)
    if floor < first:
        meta = client.call(name, {}, version=f"{floor[0]}.{floor[1]}").json["meta"]
        assert meta["result_code"] in (200, 400), meta
        assert meta["endpoint"]["actual_version"] == f"{first[0]}.{first[1]}"
    below = f"{floor[0]}.{floor[1] - 1}" if floor[1] else f"{floor[0] - 1}.9"
    meta = client.error(name, {}, version=below)
    assert codes(meta) == (404, 0) and meta["result_msg"].startswith("Unable to find endpoint for name")


def test_registration_versions_above_1_0_match_clearml(client):
    floors = {name: client.registry.floor(name) for name, _ in DECLARED}
    assert {n: f for n, f in floors.items() if f != (1, 0)} == {
        "models.make_public": (2, 9), "models.make_private": (2, 9),
        "models.add_or_update_metadata": (2, 13), "models.delete_metadata": (2, 13),
        # modelreg extensions: from their first version only
        "models.upload": (2, 13), "models.download": (2, 13), "models.get_download_url": (2, 13),
        "models.delete_file": (2, 13),
        **{n: f for n, f in floors.items() if f >= (2, 99)},
    }
    meta = client.call("models.archive_many", {"ids": ["x"]}, version="2.12").json["meta"]
    assert meta["result_code"] == 200 and meta["endpoint"]["actual_version"] == "2.13"


def test_make_public_exists_from_2_9(client):
    model_id = _create(client)
    assert codes(client.error("models.make_public", {"ids": [model_id]}, version="2.8")) == (404, 0)
    assert client.ok("models.make_public", {"ids": [model_id]}, version="2.9") == {"updated": 1}


def test_newer_requests_are_served_by_the_newest_version(client):
    model_id = _create(client)
    result = client.call("models.get_by_id", {"model": model_id}, version="2.99")
    assert result.json["meta"]["endpoint"]["actual_version"] == "2.1"
    result = client.call("models.get_all", {"id": [model_id]})
    assert result.json["meta"]["endpoint"]["actual_version"] == "2.26"


def test_get_by_task_id_up_to_2_13_only(client):
    task = _task(client)
    model_id = _create(client, task=task)
    _db(client)["tasks"].update_one({"_id": task}, {"$set": {"models.output": [
        {"name": "first", "model": "older"}, {"name": "Output Model", "model": model_id}]}})
    assert client.ok("models.get_by_task_id", {"task": task}, version="2.13")["model"]["id"] == model_id
    for version in ("2.14", "2.23", None):
        meta = client.error("models.get_by_task_id", {"task": task}, version=version)
        assert codes(meta) == (301, 1)
        assert meta["result_msg"].startswith("This endpoint is no longer supported for the requested api version")
    assert codes(client.error("models.get_by_task_id", {"task": "nope"}, version="2.13")) == (400, 101)
    empty = _task(client)
    assert codes(client.error("models.get_by_task_id", {"task": empty}, version="2.13")) == (400, 122)
    dangling = _task(client, models={"input": [], "output": [{"name": "o", "model": "gone"}]})
    assert codes(client.error("models.get_by_task_id", {"task": dangling}, version="2.13")) == (400, 201)


def test_update_for_task_creates_from_the_task(client):
    parent = _create(client)
    task = _task(client, status="in_progress", project=None, last_iteration=1,
                 execution={"framework": "PyTorch", "model_desc": {"design": "d"}, "model_labels": {"cat": 1}},
                 models={"input": [{"name": "in", "model": parent}], "output": []})
    reply = client.ok("models.update_for_task", {"task": task, "uri": "s3://b/out.pt", "iteration": 12}, version="2.13")
    assert reply["created"] is True
    doc = _db(client)["models"].find_one({"_id": reply["id"]})
    assert doc["name"] == "version-task" and doc["comment"] == f"Created by task `version-task` ({task})"
    assert doc["framework"] == "PyTorch" and doc["design"] == {"design": "d"} and doc["labels"] == {"cat": 1}
    assert doc["parent"] == parent and doc["task"] == task and doc["ready"] is False
    stored_task = _db(client)["tasks"].find_one({"_id": task})
    assert [e["model"] for e in stored_task["models"]["output"]] == [reply["id"]]
    assert stored_task["models"]["output"][0]["name"] == "Output Model" and stored_task["last_iteration"] == 12
    # a second call updates that output model
    again = client.ok("models.update_for_task", {"task": task, "uri": "s3://b/out2.pt", "name": "renamed"},
                      version="2.13")
    assert again["id"] == reply["id"] and again["created"] is False and again["updated"] == 1
    assert _db(client)["models"].find_one({"_id": reply["id"]})["uri"] == "s3://b/out2.pt"


def test_update_for_task_override_and_errors(client):
    task = _task(client)
    model_id = _create(client)
    reply = client.ok("models.update_for_task", {"task": task, "override_model_id": model_id}, version="2.13")
    assert reply == {"id": model_id, "created": True}
    assert _db(client)["tasks"].find_one({"_id": task})["models"]["output"][0]["model"] == model_id
    assert codes(client.error("models.update_for_task", {"task": task}, version="2.13")) == (400, 11)
    assert codes(client.error("models.update_for_task", {"task": task, "uri": "u", "override_model_id": model_id},
                              version="2.13")) == (400, 11)
    done = _task(client, status="completed")
    assert codes(client.error("models.update_for_task", {"task": done, "uri": "u"}, version="2.13")) == (400, 110)
    assert codes(client.error("models.update_for_task", {"task": "nope", "uri": "u"}, version="2.13")) == (400, 101)
    assert codes(client.error("models.update_for_task", {"task": task, "override_model_id": "nope"},
                              version="2.13")) == (400, 201)
    assert codes(client.error("models.update_for_task", {"task": task, "uri": "u"}, version="2.14")) == (301, 1)


def test_system_tags_merge_into_tags_below_2_3(client):
    model_id = _create(client, tags=["b"], system_tags=["archived"])
    assert client.ok("models.get_by_id", {"model": model_id}, version="2.1")["model"]["tags"] == ["archived", "b"]
    assert client.ok("models.get_by_id", {"model": model_id}, version="2.3")["model"]["tags"] == ["b"]
    listed = client.ok("models.get_all", {"id": [model_id], "only_fields": ["tags", "system_tags"]}, version="2.2")
    assert listed["models"][0]["tags"] == ["archived", "b"]


def test_old_clients_send_system_tags_in_tags(client):
    model_id = _create(client, version="2.1", tags=["archived", "mine"])
    doc = _db(client)["models"].find_one({"_id": model_id})
    assert doc["tags"] == ["mine"] and doc["system_tags"] == ["archived"]
