"""publish_many / archive_many / unarchive_many / delete_many: `{succeeded, failed}` per id."""

from __future__ import annotations

import uuid

from tests.helpers import codes

V = "2.23"


def _db(client):
    return client.app.modelreg_state.stores.db


def _create(client, **fields) -> str:
    return client.ok("models.create", {"name": "batch-model", "uri": "s3://b/m.pt", **fields}, version=V)["id"]


def _stored(client, model_id):
    return _db(client)["models"].find_one({"_id": model_id})


def _task(client, status) -> str:
    doc = {"_id": uuid.uuid4().hex, "company": client.identity["company"], "name": "batch-task",
           "type": "training", "status": status, "models": {"input": [], "output": []}}
    _db(client)["tasks"].insert_one(doc)
    return doc["_id"]


def _failure(reply, model_id) -> dict:
    return next(f["error"] for f in reply["failed"] if f["id"] == model_id)


def test_publish_many_mixed(client, other_client):
    task = _task(client, "completed")
    draft = _create(client, ready=False, task=task)
    ready = _create(client)
    foreign = _create(other_client, ready=False)
    reply = client.ok("models.publish_many", {"ids": [draft, ready, foreign, "nope"]}, version=V)
    assert [s["id"] for s in reply["succeeded"]] == [draft]
    item = reply["succeeded"][0]
    assert item["updated"] is True and item["published_task"]["id"] == task
    assert item["published_task"]["data"]["fields"]["status"] == "published"
    assert _failure(reply, ready)["codes"] == [400, 203]
    error = _failure(reply, foreign)
    assert error["codes"] == [400, 201] and error["msg"].startswith("Invalid model id")
    assert error["data"] == {"company": client.identity["company"], "model": foreign}
    assert _failure(reply, "nope")["codes"] == [400, 201]
    assert _stored(client, draft)["ready"] is True and _stored(client, foreign)["ready"] is False


def test_publish_many_without_task_and_with_blocked_task(client):
    blocked = _task(client, "in_progress")
    model_a = _create(client, ready=False, task=blocked)
    model_b = _create(client, ready=False)
    reply = client.ok("models.publish_many", {"ids": [model_a, model_b]}, version=V)
    assert _failure(reply, model_a)["codes"] == [400, 110]
    assert reply["succeeded"] == [{"id": model_b, "updated": True, "published_task": None}]
    reply = client.ok("models.publish_many", {"ids": [model_a], "publish_task": False}, version=V)
    assert reply["succeeded"][0]["published_task"] is None
    assert _db(client)["tasks"].find_one({"_id": blocked})["status"] == "in_progress"


def test_archive_and_unarchive_many(client, other_client):
    mine = _create(client, system_tags=["zeta"])
    before = _stored(client, mine)
    foreign = _create(other_client)
    reply = client.ok("models.archive_many", {"ids": [mine, foreign]}, version=V)
    assert reply["succeeded"] == [{"id": mine, "archived": True}]
    assert _failure(reply, foreign)["codes"] == [400, 201]
    doc = _stored(client, mine)
    assert doc["system_tags"] == ["archived", "zeta"]  # sorted
    assert doc["last_update"] == before["last_update"] and doc["last_change"] > before["last_change"]
    assert _stored(other_client, foreign)["system_tags"] == []
    reply = client.ok("models.unarchive_many", {"ids": [mine]}, version=V)
    assert reply == {"succeeded": [{"id": mine, "unarchived": True}], "failed": []}
    assert _stored(client, mine)["system_tags"] == ["zeta"]


def test_delete_many(client, other_client):
    plain = _create(client, uri="s3://b/1.pt")
    used = _create(client, uri="s3://b/2.pt")
    _db(client)["tasks"].insert_one({"_id": uuid.uuid4().hex, "company": client.identity["company"],
                                       "name": "user-task", "status": "created",
                                       "models": {"input": [{"name": "in", "model": used}], "output": []}})
    foreign = _create(other_client)
    reply = client.ok("models.delete_many", {"ids": [plain, used, foreign]}, version=V)
    assert reply["succeeded"] == [{"id": plain, "deleted": True, "url": "s3://b/1.pt"}]
    error = _failure(reply, used)
    assert error["codes"] == [400, 205] and error["data"] == {"num_tasks": 1}
    assert _failure(reply, foreign)["codes"] == [400, 201]
    assert _stored(client, plain) is None and _stored(client, used) is not None
    reply = client.ok("models.delete_many", {"ids": [used], "force": True}, version=V)
    assert reply["succeeded"][0]["deleted"] is True


def test_batch_requests_need_ids(client):
    for endpoint in ("models.publish_many", "models.archive_many", "models.unarchive_many", "models.delete_many"):
        assert codes(client.error(endpoint, {}, version=V)) == (400, 12)
        assert codes(client.error(endpoint, {"ids": []}, version=V)) == (400, 12)


def test_update_tags_counts_matched_models(client, other_client):
    first, second = _create(client, tags=["keep"]), _create(client)
    foreign = _create(other_client, tags=["keep"])
    reply = client.ok("models.update_tags", {"ids": [first, second, foreign], "add_tags": ["new", "$odd"]},
                      version="2.27")
    assert reply == {"updated": 2}
    assert _stored(client, first)["tags"] == ["$odd", "keep", "new"]
    assert _stored(client, second)["tags"] == ["$odd", "new"]
    reply = client.ok("models.update_tags", {"ids": [first, second], "add_tags": ["x"], "remove_tags": ["keep"]},
                      version="2.27")
    assert reply == {"updated": 4}
    assert _stored(client, first)["tags"] == ["$odd", "new", "x"]
    assert _stored(other_client, foreign)["tags"] == ["keep"]
    assert codes(client.error("models.update_tags", {"ids": [first]}, version="2.27")) == (400, 12)
