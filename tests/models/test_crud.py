"""models.create / get_by_id / edit / update / delete / set_ready, through the dispatcher."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from database.collections.scope import Scope
from tests.helpers import codes

V = "2.23"


def _db(client):
    return client.app.modelreg_state.stores.db


def _create(client, version=V, **fields) -> str:
    body = {"name": "resnet-50", "uri": "s3://bucket/resnet.pt", **fields}
    return client.ok("models.create", body, version=version)["id"]


def _stored(client, model_id) -> dict:
    return _db(client)["models"].find_one({"_id": model_id})


def _task(client, status="created", **fields) -> str:
    doc = {"_id": uuid.uuid4().hex, "company": client.identity["company"], "user": client.identity["user"],
           "name": "train-run", "type": "training", "status": status, "models": {"input": [], "output": []},
           "last_iteration": 0, **fields}
    _db(client)["tasks"].insert_one(doc)
    return doc["_id"]


def _project(client, name="vision") -> str:
    return Scope(_db(client), client.identity["company"]).projects.create_project(client.identity["user"], name)["_id"]


# --- create --------------------------------------------------------------------------------------


def test_create_defaults_and_stored_document(client):
    reply = client.ok("models.create", {"name": "  resnet-50 ", "uri": "s3://b/r.pt"}, version=V)
    assert reply["created"] is True and len(reply["id"]) == 32
    doc = _stored(client, reply["id"])
    assert doc["name"] == "resnet-50"  # trimmed
    assert doc["ready"] is True  # ClearML's default, whatever its schema says
    assert doc["company"] == client.identity["company"] and doc["user"] == client.identity["user"]
    assert doc["tags"] == [] and doc["system_tags"] == [] and doc["labels"] == {} and doc["design"] == {}
    assert doc["ui_cache"] == {} and doc["metadata"] == {}
    assert doc["created"] == doc["last_update"] == doc["last_change"]
    assert doc["last_changed_by"] == client.identity["user"]


def test_create_with_all_fields_and_get_by_id(client):
    project = _project(client)
    task = _task(client)
    parent = _create(client, name="the-parent")
    model_id = _create(
        client, comment="first", tags=["b", "a", "b"], system_tags=["x"], framework="PyTorch",
        design={"design": "layers = 3"}, labels={"cat": 1, "dog": 2}, ready=False, project=project,
        parent=parent, task=task, ui_cache={"k": 1},
    )
    model = client.ok("models.get_by_id", {"model": model_id}, version=V)["model"]
    assert model["id"] == model_id and "_id" not in model
    assert model["tags"] == ["a", "b"] and model["system_tags"] == ["x"]
    assert model["labels"] == {"cat": 1, "dog": 2} and model["ready"] is False
    assert model["project"] == project and model["task"] == task and model["parent"] == parent
    assert model["design"] == {"design": "layers = 3"} and model["framework"] == "PyTorch"
    assert "ui_cache" not in model and "company_origin" not in model  # hidden fields
    assert model["created"].endswith("+00:00")


def test_create_name_rules(client):
    assert codes(client.error("models.create", {"name": "ab", "uri": "u"}, version=V)) == (400, 800)
    assert codes(client.error("models.create", {"name": "  ab  ", "uri": "u"}, version=V)) == (400, 800)
    meta = client.error("models.create", {"uri": "u"}, version=V)
    assert codes(meta) == (400, 12) and "name" in meta["result_msg"]
    # names need not be unique
    assert _create(client, name="same") != _create(client, name="same")


def test_create_labels_must_be_int_and_unique(client):
    body = {"name": "abc", "uri": "u"}
    assert codes(client.error("models.create", {**body, "labels": {"a": "x"}}, version=V)) == (400, 12)
    assert codes(client.error("models.create", {**body, "labels": {"a": 1, "b": 1}}, version=V)) == (400, 800)


def test_create_checks_project_and_task(client, other_client):
    meta = client.error("models.create", {"name": "abc", "uri": "u", "project": "nope"}, version=V)
    assert codes(meta) == (400, 12) and "Invalid project ids" in meta["result_msg"]
    body = {"name": "abc", "uri": "u"}
    assert codes(client.error("models.create", {**body, "task": "nope"}, version=V)) == (400, 101)
    foreign_task = _task(other_client)
    assert codes(client.error("models.create", {**body, "task": foreign_task}, version=V)) == (400, 101)
    public_task = _task(other_client, company="")
    assert codes(client.error("models.create", {**body, "task": public_task}, version=V)) == (403, 21)


def test_create_refuses_operator_prefix_in_tags(client):
    meta = client.error("models.create", {"name": "abc", "uri": "u", "tags": ["__$all"]}, version=V)
    assert codes(meta) == (400, 16)


def test_create_public_model_has_empty_company_and_remembers_its_owner(client, other_client):
    model_id = _create(client, public=True)
    doc = _stored(client, model_id)
    assert doc["company"] == "" and doc["company_origin"] == client.identity["company"]
    assert other_client.ok("models.get_by_id", {"model": model_id}, version=V)["model"]["id"] == model_id


def test_unknown_keys_are_ignored(client):
    model_id = _create(client, method="get", whatever={"x": 1})
    assert "whatever" not in _stored(client, model_id)


# --- get_by_id -----------------------------------------------------------------------------------


def test_get_by_id_unknown_is_400_201_with_message(client):
    meta = client.error("models.get_by_id", {"model": "nope"}, version=V)
    assert codes(meta) == (400, 201)
    assert meta["result_msg"] == (
        f"Invalid model id (no such public or company model): id=nope, company={client.identity['company']}"
    )
    assert codes(client.error("models.get_by_id", {}, version=V)) == (400, 12)


# --- edit ----------------------------------------------------------------------------------------


def test_edit_writes_fields_and_reports_them(client):
    model_id = _create(client, ready=False)
    before = _stored(client, model_id)
    reply = client.ok("models.edit", {"model": model_id, "name": "renamed", "comment": "c",
                                      "tags": ["z", "a"], "labels": {"x": 3}}, version=V)
    assert reply["updated"] == 1
    fields = reply["fields"]
    assert fields["name"] == "renamed" and fields["tags"] == ["a", "z"] and fields["labels"] == {"x": 3}
    assert "last_change" in fields and "last_update" in fields
    doc = _stored(client, model_id)
    assert doc["name"] == "renamed" and doc["comment"] == "c" and doc["tags"] == ["a", "z"]
    assert doc["last_update"] > before["last_update"]


def test_edit_comment_only_moves_last_change_not_last_update(client):
    model_id = _create(client)
    before = _stored(client, model_id)
    fields = client.ok("models.edit", {"model": model_id, "comment": "note"}, version=V)["fields"]
    assert "last_update" not in fields
    doc = _stored(client, model_id)
    assert doc["last_update"] == before["last_update"] and doc["last_change"] > before["last_change"]


def test_edit_uri_resets_ui_cache_unless_sent(client):
    model_id = _create(client, ui_cache={"plot": 1})
    client.ok("models.edit", {"model": model_id, "uri": "s3://b/v2.pt"}, version=V)
    assert _stored(client, model_id)["ui_cache"] == {}
    client.ok("models.edit", {"model": model_id, "uri": "s3://b/v3.pt", "ui_cache": {"keep": True}}, version=V)
    assert _stored(client, model_id)["ui_cache"] == {"keep": True}
    listed = client.ok("models.get_all", {"id": [model_id], "only_fields": ["ui_cache"]}, version=V)["models"]
    assert listed == [{"ui_cache": {"keep": True}}]


def test_edit_published_model_and_ready_back_to_false(client):
    model_id = _create(client)  # ready by default
    client.ok("models.edit", {"model": model_id, "ready": False}, version=V)
    assert _stored(client, model_id)["ready"] is False


def test_edit_ignores_nulls_and_reports_nothing_for_no_fields(client):
    model_id = _create(client, comment="keep")
    assert client.ok("models.edit", {"model": model_id, "comment": None}, version=V) == {"updated": 0, "fields": {}}
    assert _stored(client, model_id)["comment"] == "keep"


def test_edit_checks_references(client):
    model_id = _create(client)
    assert codes(client.error("models.edit", {"model": model_id, "project": "nope"}, version=V)) == (400, 16)
    assert codes(client.error("models.edit", {"model": model_id, "parent": "nope"}, version=V)) == (400, 16)
    assert codes(client.error("models.edit", {"model": model_id, "task": "nope"}, version=V)) == (400, 101)
    assert codes(client.error("models.edit", {"model": model_id, "labels": {"a": "1"}}, version=V)) == (400, 12)
    assert codes(client.error("models.edit", {"model": model_id, "name": "x"}, version=V)) == (400, 800)
    assert codes(client.error("models.edit", {"model": "nope", "name": "abc"}, version=V)) == (400, 201)
    project, parent = _project(client), _create(client)
    client.ok("models.edit", {"model": model_id, "project": project, "parent": parent}, version=V)
    doc = _stored(client, model_id)
    assert doc["project"] == project and doc["parent"] == parent


def test_edit_iteration_raises_the_task_last_iteration(client):
    task = _task(client, last_iteration=5)
    model_id = _create(client, task=task)
    client.ok("models.edit", {"model": model_id, "iteration": 3}, version=V)
    assert _db(client)["tasks"].find_one({"_id": task})["last_iteration"] == 5
    client.ok("models.edit", {"model": model_id, "iteration": 9, "comment": "x"}, version=V)
    assert _db(client)["tasks"].find_one({"_id": task})["last_iteration"] == 9


# --- update --------------------------------------------------------------------------------------


def test_update_writes_only_its_fields(client):
    model_id = _create(client, ready=False, framework="TF", labels={"a": 1})
    reply = client.ok("models.update", {"model": model_id, "name": "new-name", "ready": True, "framework": "PT",
                                        "labels": {"b": 2}, "design": {"x": 1}, "parent": "p"}, version=V)
    assert reply["updated"] == 1 and reply["fields"]["name"] == "new-name"
    doc = _stored(client, model_id)
    assert doc["name"] == "new-name" and doc["ready"] is False and doc["framework"] == "TF"
    assert doc["labels"] == {"a": 1} and doc["design"] == {} and "parent" not in doc


def test_update_created_and_project_must_be_readable(client, other_client):
    model_id = _create(client)
    project = _project(client)
    client.ok("models.update", {"model": model_id, "created": "2020-01-02T03:04:05+00:00",
                                "project": project}, version=V)
    doc = _stored(client, model_id)
    assert doc["created"] == datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert doc["project"] == project
    # a project the caller cannot read is never stored (ClearML does not check; we refuse references
    # across tenants)
    foreign = _project(other_client, "foreign-project")
    for bad in ("not-checked", foreign):
        assert codes(client.error("models.update", {"model": model_id, "project": bad}, version=V)) == (400, 16)
    assert _stored(client, model_id)["project"] == project
    assert codes(client.error("models.update", {"model": model_id, "created": "yesterday"}, version=V)) == (400, 12)


def test_update_task_is_write_checked_and_bumps_iteration(client, other_client):
    model_id = _create(client)
    foreign = _task(other_client)
    assert codes(client.error("models.update", {"model": model_id, "task": foreign}, version=V)) == (400, 101)
    task = _task(client)
    client.ok("models.update", {"model": model_id, "task": task, "iteration": 7}, version=V)
    assert _db(client)["tasks"].find_one({"_id": task})["last_iteration"] == 7
    assert "task" not in _stored(client, model_id)  # update does not write task


def test_update_uri_resets_ui_cache(client):
    model_id = _create(client, ui_cache={"a": 1})
    reply = client.ok("models.update", {"model": model_id, "uri": "s3://b/new.pt"}, version=V)
    assert reply["fields"]["ui_cache"] == {} and "last_update" in reply["fields"]


# --- set_ready -----------------------------------------------------------------------------------


def test_set_ready_publishes_model_and_its_task(client):
    task = _task(client, status="completed")
    model_id = _create(client, ready=False, task=task)
    reply = client.ok("models.set_ready", {"model": model_id}, version=V)
    assert reply["updated"] == 1 and reply["published_task"]["id"] == task
    assert reply["published_task"]["data"]["fields"]["status"] == "published"
    assert _stored(client, model_id)["ready"] is True
    assert _db(client)["tasks"].find_one({"_id": task})["status"] == "published"
    assert codes(client.error("models.set_ready", {"model": model_id}, version=V)) == (400, 203)


def test_set_ready_without_publishing_the_task(client):
    task = _task(client, status="in_progress")
    model_id = _create(client, ready=False, task=task)
    reply = client.ok("models.set_ready", {"model": model_id, "publish_task": False}, version=V)
    assert reply == {"updated": 1, "fields": {}}
    assert _db(client)["tasks"].find_one({"_id": task})["status"] == "in_progress"


def test_set_ready_in_progress_task_is_400_110_and_model_unchanged(client):
    task = _task(client, status="in_progress")
    model_id = _create(client, ready=False, task=task)
    assert codes(client.error("models.set_ready", {"model": model_id}, version=V)) == (400, 110)
    assert _stored(client, model_id)["ready"] is False
    reply = client.ok("models.set_ready", {"model": model_id, "force_publish_task": True}, version=V)
    assert reply["published_task"]["id"] == task


# --- delete --------------------------------------------------------------------------------------


def test_delete_returns_url_from_2_13(client):
    model_id = _create(client, uri="s3://b/gone.pt")
    assert client.ok("models.delete", {"model": model_id}, version="2.13") == {"deleted": True, "url": "s3://b/gone.pt"}
    assert _stored(client, model_id) is None
    other = _create(client)
    assert client.ok("models.delete", {"model": other}, version="2.1") == {"deleted": True}
    assert codes(client.error("models.delete", {"model": other}, version=V)) == (400, 201)


def test_delete_removes_the_model_events(client):
    model_id = _create(client)
    events = _db(client)["events"]
    events.insert_one({"_id": uuid.uuid4().hex, "company": client.identity["company"], "task": model_id,
                       "model_event": True, "type": "training_stats_scalar", "iter": 1})
    client.ok("models.delete", {"model": model_id}, version=V)
    assert events.count_documents({"task": model_id}) == 0


def test_delete_input_model_of_tasks_needs_force(client, other_client):
    model_id = _create(client, public=False)
    used_by = _task(client, models={"input": [{"name": "Input Model", "model": model_id}], "output": []})
    used_elsewhere = _task(other_client, models={"input": [{"name": "in", "model": model_id}], "output": []})
    meta = client.error("models.delete", {"model": model_id}, version=V)
    # another company cannot read the private model: its stored reference does not count as a use
    assert codes(meta) == (400, 205) and "num_tasks=1" in meta["result_msg"]
    client.ok("models.delete", {"model": model_id, "force": True}, version=V)
    for task in (used_by, used_elsewhere):
        entry = _db(client)["tasks"].find_one({"_id": task})["models"]["input"][0]
        assert entry["model"] == "__DELETED__" + model_id


def test_delete_model_of_published_task_needs_force(client):
    task = _task(client, status="published")
    model_id = _create(client, task=task)
    _db(client)["tasks"].update_one({"_id": task}, {"$set": {"models.output": [{"name": "o", "model": model_id}]}})
    assert codes(client.error("models.delete", {"model": model_id}, version=V)) == (400, 206)
    client.ok("models.delete", {"model": model_id, "force": True}, version=V)
    stored_task = _db(client)["tasks"].find_one({"_id": task})
    assert stored_task["models"]["output"][0]["model"] == "__DELETED__" + model_id
    assert stored_task["output"]["error"].startswith("model deleted on ")


def test_delete_model_of_draft_task_pulls_the_output_entry(client):
    task = _task(client, status="in_progress")
    model_id = _create(client, task=task)
    _db(client)["tasks"].update_one({"_id": task}, {"$set": {"models.output": [{"name": "o", "model": model_id}]}})
    client.ok("models.delete", {"model": model_id}, version=V)
    assert _db(client)["tasks"].find_one({"_id": task})["models"]["output"] == []
