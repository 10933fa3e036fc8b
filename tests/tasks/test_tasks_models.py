"""The model rules that involve tasks: publishing, deleting, update_for_task, references."""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _task(client, name="model-task", status=None, **extra):
    tid = client.ok("tasks.create", {"name": name, "type": "training", **extra}, version=V)["id"]
    if status in ("in_progress", "stopped", "published"):
        client.ok("tasks.started", {"task": tid}, version=V)
    if status in ("stopped", "published"):
        client.ok("tasks.stopped", {"task": tid}, version=V)
    if status == "published":
        client.ok("tasks.publish", {"task": tid, "publish_model": False}, version=V)
    return tid


def _model(client, name="task-model", **extra):
    return client.ok("models.create", {"name": name, "uri": f"file:///{name}", **extra}, version=V)["id"]


def _status(client, tid):
    return client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["status"]


def test_set_ready_publishes_the_creating_task(client):
    tid = _task(client, status="stopped")
    mid = _model(client, ready=False, task=tid)
    reply = client.ok("models.set_ready", {"model": mid}, version=V)
    assert reply["updated"] == 1
    published = reply["published_task"]
    assert published["id"] == tid and published["data"]["updated"] == 1
    assert published["data"]["fields"]["status"] == "published"
    assert _status(client, tid) == "published"
    assert client.ok("models.get_by_id", {"model": mid}, version=V)["model"]["ready"] is True


def test_set_ready_with_an_in_progress_task_is_400_110_and_changes_nothing(client):
    tid = _task(client, status="in_progress")
    mid = _model(client, ready=False, task=tid)
    assert codes(client.error("models.set_ready", {"model": mid}, version=V)) == (400, 110)
    assert client.ok("models.get_by_id", {"model": mid}, version=V)["model"]["ready"] is False
    assert _status(client, tid) == "in_progress"
    # forced, or without publishing the task, it works
    reply = client.ok("models.set_ready", {"model": mid, "force_publish_task": True}, version=V)
    assert reply["published_task"]["data"]["fields"]["status"] == "published"


def test_set_ready_as_the_sdk_sends_it_leaves_the_task_alone(client):
    tid = _task(client, status="in_progress")
    mid = _model(client, ready=False, task=tid)
    reply = client.ok("models.set_ready", {"model": mid, "publish_task": False}, version=V)
    assert reply == {"updated": 1, "fields": {}}
    assert _status(client, tid) == "in_progress"


def test_publish_many_reports_task_errors_per_model(client):
    running = _task(client, status="in_progress")
    stopped = _task(client, name="stopped-task", status="stopped")
    m1, m2 = _model(client, "m-one", ready=False, task=running), _model(client, "m-two", ready=False, task=stopped)
    reply = client.ok("models.publish_many", {"ids": [m1, m2]}, version=V)
    assert [f["id"] for f in reply["failed"]] == [m1]
    assert reply["failed"][0]["error"]["codes"] == [400, 110]
    [ok] = reply["succeeded"]
    assert ok["id"] == m2 and ok["published_task"]["id"] == stopped


def test_delete_refuses_a_model_used_as_input(client, other_client):
    mid = _model(client, public=True)
    foreign = other_client.ok("tasks.create", {"name": "user-task", "type": "training",
                                               "models": {"input": [{"name": "in", "model": mid}]}},
                              version=V)["id"]
    own = _task(client, models={"input": [{"name": "in", "model": mid}]})
    meta = client.error("models.delete", {"model": mid}, version=V)
    assert codes(meta) == (400, 205) and "num_tasks=2" in meta["result_msg"]
    db = client.app.modelreg_state.stores.db
    db["models"].update_one({"_id": mid}, {"$set": {"company": client.identity["company"]}})
    meta = client.error("models.delete", {"model": mid}, version=V)  # private again: the other's use no longer counts
    assert codes(meta) == (400, 205) and "num_tasks=1" in meta["result_msg"]
    assert client.ok("models.delete", {"model": mid, "force": True}, version=V)["deleted"] is True
    for api, tid in ((client, own), (other_client, foreign)):
        task = api.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
        assert task["models"]["input"][0]["model"] == "__DELETED__" + mid


def test_delete_refuses_a_model_of_a_published_task(client):
    tid = _task(client)
    mid = _model(client, ready=False, task=tid)
    client.ok("tasks.add_or_update_model", {"task": tid, "name": "w", "model": mid, "type": "output"}, version=V)
    client.ok("tasks.started", {"task": tid}, version=V)
    client.ok("tasks.stopped", {"task": tid}, version=V)
    client.ok("tasks.publish", {"task": tid}, version=V)
    assert codes(client.error("models.delete", {"model": mid}, version=V)) == (400, 206)
    assert client.ok("models.delete", {"model": mid, "force": True}, version=V)["deleted"] is True
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["models"]["output"][0]["model"] == "__DELETED__" + mid
    assert task["output"]["error"].startswith("model deleted on ")


def test_delete_a_draft_task_model_pulls_the_output_entry(client):
    tid = _task(client, status="in_progress")
    keep, gone = _model(client, "keep-me", task=tid), _model(client, "gone-model", task=tid)
    for name, mid in (("a", keep), ("b", gone)):
        client.ok("tasks.add_or_update_model", {"task": tid, "name": name, "model": mid, "type": "output"},
                  version=V)
    assert client.ok("models.delete", {"model": gone}, version=V)["deleted"] is True
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert [e["model"] for e in task["models"]["output"]] == [keep]
    assert "error" not in task["output"]


def test_model_task_must_be_writable(client, other_client):
    foreign = _task(other_client, name="foreign-task")
    meta = client.error("models.create", {"name": "model", "uri": "u", "task": foreign}, version=V)
    assert codes(meta) == (400, 101)


def test_model_edit_iteration_bumps_the_task(client):
    tid = _task(client)
    mid = _model(client, task=tid)
    client.ok("models.edit", {"model": mid, "iteration": 12}, version=V)
    client.ok("models.edit", {"model": mid, "iteration": 3}, version=V)
    assert client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["last_iteration"] == 12


def test_update_for_task_creates_the_output_model_from_the_task(client):
    pid = client.ok("projects.create", {"name": "uft-project"}, version=V)["id"]
    parent = _model(client, "parent-model")
    tid = _task(client, name="uft-task", project=pid,
                execution={"framework": "keras", "model_desc": {"design": "d"}, "model_labels": {"cat": 1}},
                models={"input": [{"name": "in", "model": parent}]})
    reply = client.ok("models.update_for_task", {"task": tid, "uri": "file:///w", "iteration": 4}, version="2.9")
    assert reply["created"] is True
    model = client.ok("models.get_by_id", {"model": reply["id"]}, version=V)["model"]
    assert model["name"] == "uft-task" and model["task"] == tid and model["project"] == pid
    assert model["framework"] == "keras" and model["design"] == {"design": "d"} and model["labels"] == {"cat": 1}
    assert model["parent"] == parent and model["ready"] is False
    assert model["comment"] == f"Created by task `uft-task` ({tid})"
    task = client.ok("tasks.get_by_id", {"task": tid}, version="2.9")["task"]
    assert task["output"]["model"] == reply["id"] and task["last_iteration"] == 4
    again = client.ok("models.update_for_task", {"task": tid, "uri": "file:///w2"}, version="2.9")
    assert again["created"] is False and again["id"] == reply["id"]
    override = _model(client, "override-model")
    client.ok("models.update_for_task", {"task": tid, "override_model_id": override}, version="2.9")
    entries = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["models"]["output"]
    assert [(e["name"], e["model"]) for e in entries] == [("Output Model", override)]


def test_update_for_task_needs_a_created_or_running_task(client):
    tid = _task(client, status="stopped")
    meta = client.error("models.update_for_task", {"task": tid, "uri": "file:///w"}, version="2.9")
    assert codes(meta) == (400, 110)
    assert codes(client.error("models.update_for_task", {"task": "nope", "uri": "u"}, version="2.9")) == (400, 101)


def test_get_by_task_id_returns_the_last_output_model(client):
    tid = _task(client)
    assert codes(client.error("models.get_by_task_id", {"task": tid}, version="2.9")) == (400, 122)
    first, last = _model(client, "first"), _model(client, "last")
    for name, mid in (("a", first), ("b", last)):
        client.ok("tasks.add_or_update_model", {"task": tid, "name": name, "model": mid, "type": "output"},
                  version=V)
    assert client.ok("models.get_by_task_id", {"task": tid}, version="2.9")["model"]["id"] == last


def test_models_get_all_by_task_as_the_sdk_lists_task_models(client):
    tid = _task(client)
    ids = [_model(client, f"model-{n}", task=tid) for n in range(2)]
    found = client.ok("models.get_all", {"task": [tid], "only_fields": ["id"], "order_by": ["created"]},
                      version=V)["models"]
    assert [m["id"] for m in found] == ids
