"""tasks.*: through the dispatcher."""

from __future__ import annotations

from tests.events.test_events import add_events
from tests.helpers import codes

V = "2.23"
SDK_SECTIONS = ("output", "execution", "script", "hyperparams", "configuration", "runtime")


def _task(client, name="my-task", version=V, **extra):
    return client.ok("tasks.create", {"name": name, "type": "training", **extra}, version=version)["id"]


def _model(client, name="my-model", **extra):
    return client.ok("models.create", {"name": name, "uri": f"file:///{name}", **extra}, version=V)["id"]


def _get(client, task_id, version=V):
    return client.ok("tasks.get_by_id", {"task": task_id}, version=version)["task"]


def test_create_and_get_by_id_return_every_section(client):
    pid = client.ok("projects.create", {"name": "proj"}, version=V)["id"]
    tid = _task(client, project=pid, system_tags=["development"], comment="hello", tags=["b", "a"])
    task = _get(client, tid)
    assert task["id"] == tid and task["status"] == "created" and task["type"] == "training"
    assert task["project"] == pid and task["comment"] == "hello" and task["tags"] == ["a", "b"]
    for section in SDK_SECTIONS:
        assert task[section] == {}, section
    assert task["models"] == {"input": [], "output": []}
    assert task["last_iteration"] == 0
    assert task["user"] == client.identity["user"] and task["company"] == client.identity["company"]


def test_create_errors(client):
    assert codes(client.error("tasks.create", {"name": "xy", "type": "training"}, version=V)) == (400, 800)
    assert codes(client.error("tasks.create", {"name": "task", "type": "nonsense"}, version=V)) == (400, 12)
    assert codes(client.error("tasks.create", {"type": "training"}, version=V)) == (400, 12)
    meta = client.error("tasks.create", {"name": "task", "type": "training", "project": "nope"}, version=V)
    assert codes(meta) == (400, 401)
    meta = client.error("tasks.create", {"name": "task", "type": "training",
                                         "models": {"input": [{"name": "in", "model": "nope"}]}}, version=V)
    assert codes(meta) == (400, 201)
    assert codes(client.error("tasks.create", {"name": "task", "type": "training", "parent": "nope"},
                              version=V)) == (400, 101)


def test_validate_checks_without_creating(client):
    assert client.ok("tasks.validate", {"name": "valid", "type": "testing"}, version=V) == {}
    assert codes(client.error("tasks.validate", {"name": "valid", "type": "testing", "project": "x"},
                              version=V)) == (400, 401)
    assert client.ok("tasks.get_all", {}, version=V)["tasks"] == []


def test_get_by_id_unknown_or_foreign_is_400_101(client, other_client):
    tid = _task(client)
    assert codes(other_client.error("tasks.get_by_id", {"task": tid}, version=V)) == (400, 101)
    assert codes(client.error("tasks.get_by_id", {"task": "nope"}, version=V)) == (400, 101)


def test_models_section_and_legacy_fields(client):
    m_in, m_out = _model(client, "input-model"), _model(client, "output-model")
    tid = _task(client, models={"input": [{"name": "in", "model": m_in}], "output": [{"name": "out", "model": m_out}]})
    task = _get(client, tid)
    assert [(e["name"], e["model"]) for e in task["models"]["input"]] == [("in", m_in)]
    assert task["models"]["output"][0]["updated"]
    assert "model" not in task["execution"] and "model" not in task["output"]
    legacy = _get(client, tid, version="2.9")
    assert legacy["execution"]["model"] == m_in and legacy["output"]["model"] == m_out
    # below 2.13 the legacy fields are accepted on create and edit
    old = client.ok("tasks.create", {"name": "old-task", "type": "training", "execution": {"model": m_in,
                                                                                       "framework": "keras"}},
                    version="2.9")["id"]
    task = _get(client, old)
    assert task["models"]["input"][0]["model"] == m_in and task["models"]["input"][0]["name"] == "Input Model"
    assert task["execution"] == {"framework": "keras"}
    client.ok("tasks.edit", {"task": old, "output": {"model": m_out}}, version="2.9")
    assert _get(client, old)["models"]["output"][0]["model"] == m_out


def test_get_all_as_the_sdk_polls_it(client, other_client):
    tid = _task(client)
    _task(client, name="hidden-task", system_tags=["hidden"])
    _task(other_client, name="foreign")
    data = client.ok("tasks.get_all", {"id": [tid], "only_fields": ["status", "status_message", "id"],
                                       "search_hidden": False, "method": "get"}, version=V)
    assert data["tasks"] == [{"id": tid, "status": "created", "status_message": ""}]
    names = [t["name"] for t in client.ok("tasks.get_all", {"order_by": ["name"]}, version=V)["tasks"]]
    assert names == ["my-task"]
    names = [t["name"] for t in client.ok("tasks.get_all", {"search_hidden": True, "order_by": ["name"]},
                                          version=V)["tasks"]]
    assert names == ["hidden-task", "my-task"]
    assert codes(client.error("tasks.get_all", {"only_fields": ["bogus"]}, version=V)) == (400, 14)


def test_get_all_filters_and_get_all_ex_references(client):
    pid = client.ok("projects.create", {"name": "proj-x"}, version=V)["id"]
    sub = client.ok("projects.create", {"name": "proj-x/sub"}, version=V)["id"]
    t1 = _task(client, name="alpha-task", project=pid, tags=["keep"])
    t2 = _task(client, name="beta-task", project=sub)
    client.ok("tasks.started", {"task": t2}, version=V)
    ids = lambda data, endpoint="tasks.get_all": [t["id"] for t in client.ok(endpoint, data, version=V)["tasks"]]  # noqa: E731
    assert ids({"status": ["in_progress"]}) == [t2]
    assert ids({"tags": ["-keep"]}) == [t2]
    assert ids({"name": "^alpha"}) == [t1]
    assert ids({"project": [pid]}) == [t1]
    assert sorted(ids({"project": [pid], "include_subprojects": True}, "tasks.get_all")) == sorted([t1, t2])
    tasks = client.ok("tasks.get_all_ex", {"id": [t1], "only_fields": ["name", "project.name"]}, version=V)["tasks"]
    assert tasks == [{"id": t1, "name": "alpha-task", "project": {"id": pid, "name": "proj-x"}}]
    [full] = client.ok("tasks.get_all_ex", {"id": [t1]}, version=V)["tasks"]
    assert full["project"] == {"id": pid} and full["parent"] is None  # empty reference: null


def test_edit_needs_created_unless_forced_and_merges_sections(client):
    tid = _task(client, execution={"framework": "pytorch", "model_labels": {"cat": 1}})
    data = client.ok("tasks.edit", {"task": tid, "execution": {"model_desc": {"design": "x"}},
                                    "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}},
                                    "configuration": {"General": {"name": "General", "value": "a=1"}},
                                    "script": {"repository": "r", "requirements": {"pip": "x"}},
                                    "output_dest": "http://files", "comment": "edited"}, version=V)
    assert data["updated"] == 1 and data["fields"]["comment"] == "edited"
    task = _get(client, tid)
    assert task["execution"] == {"framework": "pytorch", "model_labels": {"cat": 1}, "model_desc": {"design": "x"}}
    assert task["hyperparams"]["Args"]["lr"]["value"] == "0.1"
    assert task["configuration"]["General"]["value"] == "a=1"
    assert task["output"]["destination"] == "http://files"
    client.ok("tasks.started", {"task": tid}, version=V)
    meta = client.error("tasks.edit", {"task": tid, "comment": "again"}, version=V)
    assert codes(meta) == (400, 110)
    client.ok("tasks.edit", {"task": tid, "force": True, "runtime": {"progress": 5}}, version=V)
    assert _get(client, tid)["runtime"] == {"progress": 5}
    assert client.ok("tasks.edit", {"task": tid, "force": True}, version=V) == {"updated": 0, "fields": {}}
    assert codes(client.error("tasks.edit", {"task": tid, "name": "x", "force": True}, version=V)) == (400, 800)


def test_edit_and_write_on_foreign_or_public_task(client, other_client):
    tid = _task(client)
    assert codes(other_client.error("tasks.edit", {"task": tid, "comment": "x"}, version=V)) == (400, 101)
    assert codes(other_client.error("tasks.started", {"task": tid}, version=V)) == (400, 10)
    db = client.app.modelreg_state.stores.db
    db["tasks"].update_one({"_id": tid}, {"$set": {"company": ""}})
    assert _get(other_client, tid)["id"] == tid
    assert codes(other_client.error("tasks.edit", {"task": tid, "comment": "x"}, version=V)) == (403, 21)


def test_status_flow_started_completed_published(client):
    tid = _task(client)
    started = client.ok("tasks.started", {"task": tid, "force": False}, version=V)
    assert started["updated"] == 1 and started["started"] == 1 and started["fields"]["status"] == "in_progress"
    task = _get(client, tid)
    assert task["status"] == "in_progress" and task["started"]
    assert codes(client.error("tasks.publish", {"task": tid}, version=V)) == (400, 110)
    done = client.ok("tasks.completed", {"task": tid, "status_reason": "completed", "publish": False}, version=V)
    assert done["fields"]["status"] == "completed" and done["fields"]["status_reason"] == "completed"
    published = client.ok("tasks.publish", {"task": tid}, version=V)
    assert published["fields"]["status"] == "published"
    task = _get(client, tid)
    assert task["status"] == "published" and task["published"]
    # published is final
    assert codes(client.error("tasks.started", {"task": tid}, version=V)) == (400, 110)
    assert codes(client.error("tasks.reset", {"task": tid}, version=V)) == (400, 110)


def test_stopped_and_completed_with_publish(client):
    tid = _task(client)
    client.ok("tasks.started", {"task": tid}, version=V)
    assert client.ok("tasks.stopped", {"task": tid}, version=V)["fields"]["status"] == "stopped"
    model = _model(client, ready=False, task=tid)
    client.ok("tasks.add_or_update_model", {"task": tid, "name": "weights", "model": model, "type": "output"},
              version=V)
    reply = client.ok("tasks.completed", {"task": tid, "publish": True}, version=V)
    assert reply["published"] == 1
    assert _get(client, tid)["status"] == "published"
    assert client.ok("models.get_by_id", {"model": model}, version=V)["model"]["ready"] is True


def test_publish_marks_the_last_output_model_ready(client):
    tid = _task(client)
    first, last = _model(client, "first", ready=False), _model(client, "last", ready=False)
    for name, model in (("a", first), ("b", last)):
        client.ok("tasks.add_or_update_model", {"task": tid, "name": name, "model": model, "type": "output"},
                  version=V)
    client.ok("tasks.started", {"task": tid}, version=V)
    client.ok("tasks.stopped", {"task": tid}, version=V)
    client.ok("tasks.publish", {"task": tid}, version=V)
    assert client.ok("models.get_by_id", {"model": last}, version=V)["model"]["ready"] is True
    assert client.ok("models.get_by_id", {"model": first}, version=V)["model"]["ready"] is False


def test_publish_without_model_and_forced(client):
    tid = _task(client)
    model = _model(client, ready=False)
    client.ok("tasks.add_or_update_model", {"task": tid, "name": "a", "model": model, "type": "output"}, version=V)
    client.ok("tasks.started", {"task": tid}, version=V)
    reply = client.ok("tasks.publish", {"task": tid, "force": True, "publish_model": False}, version=V)
    assert reply["fields"]["status"] == "published"
    assert client.ok("models.get_by_id", {"model": model}, version=V)["model"]["ready"] is False


def test_reset_clears_the_run_and_removes_draft_output_models(client):
    tid = _task(client)
    client.ok("tasks.started", {"task": tid}, version=V)
    client.ok("tasks.edit", {"task": tid, "force": True, "runtime": {"progress": 50}}, version=V)
    draft = _model(client, "draft", ready=False, task=tid)
    ready = _model(client, "ready", ready=True, task=tid)
    for name, model in (("d", draft), ("r", ready)):
        client.ok("tasks.add_or_update_model", {"task": tid, "name": name, "model": model, "type": "output",
                                                "iteration": 7}, version=V)
    add_events(client, [{"task": tid, "type": "log", "msg": "hi", "timestamp": 1}])
    reply = client.ok("tasks.reset", {"task": tid, "force": False, "clear_all": False,
                                      "delete_external_artifacts": True, "return_file_urls": True}, version=V)
    assert reply["deleted_models"] == 1 and reply["urls"]["model_urls"] == ["file:///draft"]
    assert reply["fields"]["status"] == "created" and reply["events"] == {"deleted": 1}
    task = _get(client, tid)
    assert task["status"] == "created" and task["last_iteration"] == 0 and task["models"]["output"] == []
    assert task["runtime"] == {}
    assert task["started"] is None
    assert codes(client.error("models.get_by_id", {"model": draft}, version=V)) == (400, 201)
    assert client.ok("models.get_by_id", {"model": ready}, version=V)["model"]["task"] == tid


def test_clone(client):
    pid = client.ok("projects.create", {"name": "clone-src"}, version=V)["id"]
    m_in = _model(client, "input-model")
    out = _model(client, "output-model")
    src = _task(client, name="source", project=pid, tags=["t"], system_tags=["archived", "development", "x"],
                execution={"framework": "keras"}, hyperparams={"Args": {"a": {"section": "Args", "name": "a",
                                                                                "value": "1"}}},
                models={"input": [{"name": "in", "model": m_in}], "output": [{"name": "out", "model": out}]})
    client.ok("tasks.started", {"task": src}, version=V)
    reply = client.ok("tasks.clone", {"task": src, "new_task_name": "copy"}, version=V)
    copy = _get(client, reply["id"])
    assert copy["name"] == "copy" and copy["status"] == "created" and copy["project"] == pid
    assert copy["execution"] == {"framework": "keras"} and copy["hyperparams"]["Args"]["a"]["value"] == "1"
    assert [e["model"] for e in copy["models"]["input"]] == [m_in] and copy["models"]["output"] == []
    assert copy["tags"] == ["t"] and copy["system_tags"] == ["x"]
    reply = client.ok("tasks.clone", {"task": src, "new_project_name": "clones/here",
                                      "execution_overrides": {"framework": "jax"}}, version=V)
    assert reply["new_project"]["name"] == "clones/here"
    copy = _get(client, reply["id"])
    assert copy["project"] == reply["new_project"]["id"] and copy["execution"]["framework"] == "jax"
    assert copy["name"] == "source"
    assert codes(client.error("tasks.clone", {"task": src, "new_task_project": "nope"}, version=V)) == (400, 401)
    legacy = client.ok("tasks.clone", {"task": src}, version="2.9")["id"]
    assert _get(client, legacy)["models"]["input"][0]["name"] == "in"
    assert codes(client.error("tasks.clone", {"task": "nope"}, version=V)) == (400, 101)


def test_delete(client):
    tid = _task(client)
    child = _task(client, name="child", parent=tid)
    client.ok("tasks.started", {"task": tid}, version=V)
    draft = _model(client, "draft", ready=False, task=tid)
    ready = _model(client, "ready", ready=True, task=tid)
    assert codes(client.error("tasks.delete", {"task": tid}, version=V)) == (400, 123)
    reply = client.ok("tasks.delete", {"task": tid, "force": True, "return_file_urls": True}, version=V)
    assert reply["deleted"] is True and reply["deleted_models"] == 1 and reply["updated_models"] == 1
    assert reply["updated_children"] == 1 and reply["urls"]["model_urls"] == ["file:///draft"]
    assert codes(client.error("tasks.get_by_id", {"task": tid}, version=V)) == (400, 101)
    assert codes(client.error("models.get_by_id", {"model": draft}, version=V)) == (400, 201)
    assert client.ok("models.get_by_id", {"model": ready}, version=V)["model"]["task"] == "__DELETED__" + tid
    assert _get(client, child)["parent"] is None


def test_delete_created_or_archived_without_force(client):
    created = _task(client)
    assert client.ok("tasks.delete", {"task": created}, version=V)["deleted"] is True
    archived = _task(client, name="archived-one")
    client.ok("tasks.started", {"task": archived}, version=V)
    client.ok("tasks.edit", {"task": archived, "force": True, "system_tags": ["archived"]}, version=V)
    assert client.ok("tasks.delete", {"task": archived}, version=V)["deleted"] is True


def test_delete_refuses_published_output_models_without_force(client):
    tid = _task(client)
    _model(client, "ready", ready=True, task=tid)
    assert codes(client.error("tasks.delete", {"task": tid}, version=V)) == (400, 123)


def test_delete_keeps_draft_models_when_asked(client):
    tid = _task(client)
    draft = _model(client, "draft", ready=False, task=tid)
    reply = client.ok("tasks.delete", {"task": tid, "delete_output_models": False}, version=V)
    assert reply["deleted_models"] == 0
    assert client.ok("models.get_by_id", {"model": draft}, version=V)["model"]["task"] == "__DELETED__" + tid


def test_move(client):
    t1, t2 = _task(client, name="one"), _task(client, name="two")
    reply = client.ok("tasks.move", {"ids": [t1, t2], "project_name": "moved/here"}, version=V)
    pid = reply["project_id"]
    assert _get(client, t1)["project"] == pid and _get(client, t2)["project"] == pid
    assert client.ok("tasks.move", {"ids": [t1], "project": None}, version=V) == {"project_id": None}
    assert _get(client, t1)["project"] is None
    assert codes(client.error("tasks.move", {"ids": [t1]}, version=V)) == (400, 11)
    assert codes(client.error("tasks.move", {"ids": [t1], "project": "nope"}, version=V)) == (400, 401)
    assert codes(client.error("tasks.move", {"ids": [t1, "nope"], "project": None}, version=V)) == (400, 101)


def test_update_tags(client):
    t1, t2 = _task(client, name="one", tags=["a"]), _task(client, name="two")
    assert client.ok("tasks.update_tags", {"ids": [t1, t2], "add_tags": ["b", "a"]}, version="2.27") == {"updated": 2}
    assert _get(client, t1)["tags"] == ["a", "b"]
    assert client.ok("tasks.update_tags", {"ids": [t1, t2], "remove_tags": ["a"]}, version="2.27") == {"updated": 2}
    assert _get(client, t2)["tags"] == ["b"]
    assert codes(client.error("tasks.update_tags", {"ids": [t1]}, version="2.27")) == (400, 12)
    # every id must be a task the caller may write, as in ClearML
    assert codes(client.error("tasks.update_tags", {"ids": [t1, "nope"], "add_tags": ["c"]}, version="2.27")) == (
        400, 101)


def test_add_or_update_model_and_delete_models(client):
    tid = _task(client)
    m1, m2 = _model(client, "model-1"), _model(client, "model-2")
    assert client.ok("tasks.add_or_update_model", {"task": tid, "name": "w", "model": m1, "type": "output",
                                                   "iteration": 3}, version=V) == {"updated": 1}
    client.ok("tasks.add_or_update_model", {"task": tid, "name": "w", "model": m2, "type": "output"}, version=V)
    client.ok("tasks.add_or_update_model", {"task": tid, "name": "in", "model": m1, "type": "input"}, version=V)
    task = _get(client, tid)
    assert [(e["name"], e["model"]) for e in task["models"]["output"]] == [("w", m2)]
    assert task["last_iteration"] == 3
    assert codes(client.error("tasks.add_or_update_model", {"task": tid, "name": "w", "model": m1, "type": "x"},
                              version=V)) == (400, 12)
    assert codes(client.error("tasks.add_or_update_model", {"task": tid, "name": "w", "model": m1,
                                                            "type": "output"}, version="2.12")) == (404, 0)
    reply = client.ok("tasks.delete_models", {"task": tid, "models": [{"name": "w", "type": "output"},
                                                                      {"name": "in", "type": "input"}]}, version=V)
    assert reply == {"updated": 1}
    assert _get(client, tid)["models"] == {"input": [], "output": []}


def test_ping_and_set_requirements(client):
    tid = _task(client, script={"entry_point": "train.py"})
    assert client.ok("tasks.ping", {"task": tid}, version=V) == {}
    reply = client.ok("tasks.set_requirements", {"task": tid, "requirements": {"pip": "numpy\n", "conda": None}},
                      version=V)
    assert reply["updated"] == 1
    assert _get(client, tid)["script"]["requirements"] == {"pip": "numpy\n", "conda": None}
    # as in ClearML, a ping for an unknown task is answered {} (it used to be
    # 400/101), and a task without a script has no requirements to set (400/122)
    assert client.ok("tasks.ping", {"task": "nope"}, version=V) == {}
    bare = _task(client, name="no-script")
    assert codes(client.error("tasks.set_requirements", {"task": bare, "requirements": {"pip": "x"}},
                              version=V)) == (400, 122)


def test_parameter_and_configuration_names_may_hold_dots_and_dollars(client):
    params = {"Args": {"model.lr": {"section": "Args", "name": "model.lr", "value": "0.1"},
                       "$weird": {"section": "Args", "name": "$weird", "value": "x"}},
              "sec.tion": {"_p": {"section": "sec.tion", "name": "_p", "value": "1"}}}
    config = {"my.conf": {"name": "my.conf", "value": "a=1"}, "$c": {"name": "$c", "value": "b"}}
    tid = _task(client, hyperparams=params, configuration=config)
    task = _get(client, tid)
    assert task["hyperparams"] == params and task["configuration"] == config
    reply = client.ok("tasks.edit", {"task": tid, "hyperparams": {"New": {"a.b": {"name": "a.b", "value": "2"}}}},
                      version=V)
    assert reply["fields"]["hyperparams"] == {"New": {"a.b": {"name": "a.b", "value": "2"}}}
    copy = _get(client, client.ok("tasks.clone", {"task": tid}, version=V)["id"])
    assert copy["hyperparams"] == {"New": {"a.b": {"name": "a.b", "value": "2"}}}
    assert copy["configuration"] == config
    [found] = client.ok("tasks.get_all", {"id": [tid], "only_fields": ["configuration"]}, version=V)["tasks"]
    assert found["configuration"] == config
