"""Behaviours a ClearML client can tell apart, through the dispatcher."""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _task(client, name="compat-task", version=V, **extra):
    return client.ok("tasks.create", {"name": name, "type": "training", **extra}, version=version)["id"]


def _model(client, name="compat-model", version=V, **extra):
    return client.ok("models.create", {"name": name, "uri": f"file:///{name}", **extra}, version=version)["id"]


# --- 1. metadata as ClearML's map from 2.13 ---------------------------------------------------------


def test_metadata_map_on_create_edit_update_and_the_list_form_still_works(client):
    mid = _model(client, metadata={"lr": {"key": "lr", "type": "float", "value": "0.1"}})
    model = client.ok("models.get_by_id", {"model": mid}, version=V)["model"]
    assert model["metadata"] == {"lr": {"key": "lr", "type": "float", "value": "0.1"}}
    client.ok("models.edit", {"model": mid, "metadata": {"e": {"type": "str", "value": "x"}}}, version=V)
    model = client.ok("models.get_by_id", {"model": mid}, version=V)["model"]
    assert model["metadata"] == {"e": {"key": "e", "type": "str", "value": "x"}}
    client.ok("models.update", {"model": mid, "metadata": [{"key": "u", "type": "int", "value": "1"}]}, version=V)
    model = client.ok("models.get_by_id", {"model": mid}, version=V)["model"]
    assert model["metadata"] == {"u": {"key": "u", "type": "int", "value": "1"}}


# --- 2. system tags inside tags below 2.3 ------------------------------------------------------------


def test_models_below_2_3_system_tags_live_in_tags(client):
    mid = _model(client, version="2.2", tags=["archived", "test"])
    modern = client.ok("models.get_by_id", {"model": mid}, version=V)["model"]
    assert modern["tags"] == ["test"] and modern["system_tags"] == ["archived"]
    old = client.ok("models.get_by_id", {"model": mid}, version="2.2")["model"]
    assert old["tags"] == ["archived", "test"]
    other = _model(client, name="plain-model", version="2.2", tags=["test"])
    found = client.ok("models.get_all", {"tags": ["-archived"], "only_fields": ["id"]}, version="2.2")["models"]
    assert [m["id"] for m in found] == [other]
    found = client.ok("models.get_all", {"tags": ["archived"], "only_fields": ["id"]}, version="2.2")["models"]
    assert [m["id"] for m in found] == [mid]


def test_tasks_and_projects_below_2_3_system_tags_live_in_tags(client):
    tid = _task(client, version="2.2", tags=["archived", "mine"])
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["tags"] == ["mine"] and task["system_tags"] == ["archived"]
    assert client.ok("tasks.get_by_id", {"task": tid}, version="2.2")["task"]["tags"] == ["archived", "mine"]
    live = _task(client, name="live-task", version="2.2")
    found = client.ok("tasks.get_all", {"tags": ["-archived"], "only_fields": ["id"]}, version="2.2")["tasks"]
    assert [t["id"] for t in found] == [live]
    pid = client.ok("projects.create", {"name": "old-proj", "tags": ["archived"]}, version="2.2")["id"]
    project = client.ok("projects.get_by_id", {"project": pid}, version=V)["project"]
    assert project["system_tags"] == ["archived"] and project["tags"] == []
    found = client.ok("projects.get_all", {"tags": ["-archived"]}, version="2.2")["projects"]
    assert pid not in [p["id"] for p in found]


# --- 3. *_ex joins without a project -------------------------------------------------------------------


def test_ex_replies_show_no_project_object_for_entities_without_one(client):
    mid = _model(client)
    tid = _task(client)
    body = {"only_fields": ["project.name", "name"]}
    [model] = client.ok("models.get_all_ex", {"id": [mid], **body}, version=V)["models"]
    assert model.get("project") is None
    [task] = client.ok("tasks.get_all_ex", {"id": [tid], **body}, version=V)["tasks"]
    assert task.get("project") is None


# --- 4. reset keeps draft outputs used by other tasks ------------------------------------------------


def test_reset_deletes_draft_outputs_except_those_used_elsewhere(client):
    tid = _task(client)
    used = _model(client, name="used-draft", task=tid, ready=False)
    alone = _model(client, name="lone-draft", task=tid, ready=False)
    for mid, name in ((used, "a"), (alone, "b")):
        client.ok("tasks.add_or_update_model", {"task": tid, "name": name, "model": mid, "type": "output"}, version=V)
    _task(client, name="consumer", models={"input": [{"name": "in", "model": used}]})
    client.ok("tasks.started", {"task": tid}, version=V)
    reply = client.ok("tasks.reset", {"task": tid, "force": True}, version=V)
    assert reply["deleted_models"] == 1
    assert client.ok("models.get_by_id", {"model": used}, version=V)["model"]["id"] == used
    assert codes(client.error("models.get_by_id", {"model": alone}, version=V)) == (400, 201)


# --- 5. clone validate_references --------------------------------------------------------------------


def test_clone_validate_references_refuses_a_missing_input_model(client):
    mid = _model(client)
    tid = _task(client, models={"input": [{"name": "in", "model": mid}]})
    client.ok("models.delete", {"model": mid, "force": True}, version=V)
    meta = client.error("tasks.clone", {"task": tid, "validate_references": True}, version=V)
    assert codes(meta) == (400, 201)
    assert client.ok("tasks.clone", {"task": tid}, version=V)["id"]


# --- 6. delete: published tasks and published children need force ------------------------------------


def test_delete_needs_force_for_published_task_or_children(client):
    parent = _task(client, name="parent-task")
    child = _task(client, name="child-task", parent=parent)
    client.ok("tasks.publish", {"task": child, "force": True}, version=V)
    meta = client.error("tasks.delete", {"task": parent}, version=V)
    assert codes(meta) == (400, 123)
    reply = client.ok("tasks.delete", {"task": parent, "force": True}, version=V)
    assert reply["deleted"] is True and reply["updated_children"] == 1
    assert client.ok("tasks.get_by_id", {"task": child}, version=V)["task"].get("parent") is None
    assert codes(client.error("tasks.delete", {"task": child}, version=V)) == (400, 123)
    assert client.ok("tasks.delete", {"task": child, "force": True}, version=V)["deleted"] is True


# --- 7. own_tasks / own_models leave archived out --------------------------------------------------------


def test_own_contents_leave_out_archived_unless_the_filter_asks(client):
    pid = client.ok("projects.create", {"name": "own-contents"}, version=V)["id"]
    _task(client, project=pid)
    _task(client, name="old-task", project=pid, system_tags=["archived"])
    _model(client, project=pid)
    _model(client, name="old-model", project=pid, system_tags=["archived"])
    body = {"id": [pid], "check_own_contents": True}
    [project] = client.ok("projects.get_all_ex", body, version=V)["projects"]
    assert (project["own_tasks"], project["own_models"]) == (1, 1)
    [project] = client.ok("projects.get_all_ex", {**body, "include_stats_filter": {"system_tags": ["archived"]}},
                          version=V)["projects"]
    assert (project["own_tasks"], project["own_models"]) == (1, 1)
    [project] = client.ok("projects.get_all_ex", {**body, "include_stats_filter": {"system_tags": ["-archived"]}},
                          version=V)["projects"]
    assert (project["own_tasks"], project["own_models"]) == (1, 1)


# --- 9. nulls --------------------------------------------------------------------------------------------


def test_create_with_null_ready_is_a_data_validation_error(client):
    meta = client.error("models.create", {"name": "null-ready", "uri": "file:///x", "ready": None}, version=V)
    assert codes(meta) == (400, 800)
    assert codes(client.error("models.create", {"name": None, "uri": "file:///x"}, version=V)) == (400, 12)
    assert _model(client, name="null-comment", comment=None, tags=None, project=None)


# --- 10. tasks.edit with status ---------------------------------------------------------------------------


def test_edit_writes_the_status_given_on_a_created_task_or_with_force(client):
    tid = _task(client)
    reply = client.ok("tasks.edit", {"task": tid, "status": "completed"}, version=V)
    assert reply["fields"]["status"] == "completed"
    assert codes(client.error("tasks.edit", {"task": tid, "status": "created"}, version=V)) == (400, 110)
    client.ok("tasks.edit", {"task": tid, "status": "created", "force": True}, version=V)
    assert client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["status"] == "created"
    assert codes(client.error("tasks.edit", {"task": tid, "status": "nonsense"}, version=V)) == (400, 12)


def test_clone_parent_is_the_source_and_output_artifacts_stay_behind(client):
    src = _task(client, name="clone-source")
    client.ok("tasks.add_or_update_artifacts", {"task": src, "artifacts": [
        {"key": "in", "type": "str", "mode": "input"}, {"key": "out", "type": "str"}]}, version=V)
    copy_id = client.ok("tasks.clone", {"task": src}, version=V)["id"]
    copy = client.ok("tasks.get_by_id", {"task": copy_id}, version=V)["task"]
    assert copy["parent"] == src
    assert [a["key"] for a in copy["execution"]["artifacts"]] == ["in"]
    again = client.ok("tasks.clone", {"task": copy_id}, version=V)["id"]
    assert client.ok("tasks.get_by_id", {"task": again}, version=V)["task"]["parent"] == src


def test_null_optional_fields_are_ignored_on_task_and_project_create(client):
    tid = _task(client, comment=None, tags=None, project=None, parent=None, execution=None, hyperparams=None)
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["tags"] == [] and task["execution"] == {} and task.get("project") is None
    client.ok("tasks.edit", {"task": tid, "comment": None, "name": "renamed-task"}, version=V)
    assert client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["name"] == "renamed-task"
    pid = client.ok("projects.create", {"name": "null-fields", "description": None, "tags": None}, version=V)["id"]
    assert client.ok("projects.get_by_id", {"project": pid}, version=V)["project"]["tags"] == []
    assert codes(client.error("tasks.create", {"name": "typed", "type": None}, version=V)) == (400, 12)


def test_projects_get_all_ex_honours_allow_public(client, other_client):
    pid = client.ok("projects.create", {"name": "mine-only"}, version=V)["id"]
    assert [p["id"] for p in client.ok("projects.get_all_ex", {"id": [pid], "allow_public": False},
                                       version=V)["projects"]] == [pid]
    assert other_client.ok("projects.get_all_ex", {"id": [pid], "allow_public": True}, version=V)["projects"] == []
