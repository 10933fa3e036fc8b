"""Below API 2.3 a client sees one tag list: writing `tags` replaces the system tags too.

Read from clearml-server apiserver/services/utils.py `conform_tag_fields` / `conform_tags` /
`_upgrade_tags` (below 2.3 a `tags` sent without `system_tags` is partitioned into both fields, so an
absent system tag becomes an empty `system_tags`), called by models.update/edit, tasks.edit and
projects.update in apiserver/services/models.py, tasks.py and projects.py.
"""

from __future__ import annotations

OLD, NEW = "2.2", "2.23"


def _archived_model(client) -> str:
    data = {"name": "legacy-m", "uri": "file:///m", "tags": ["archived", "test"]}
    return client.ok("models.create", data, version=OLD)["id"]


def test_model_update_below_2_3_without_a_system_tag_removes_it(client):
    mid = _archived_model(client)
    client.ok("models.update", {"model": mid, "tags": ["test"]}, version=OLD)
    model = client.ok("models.get_by_id", {"model": mid}, version=NEW)["model"]
    assert model["tags"] == ["test"] and model["system_tags"] == []
    client.ok("models.edit", {"model": mid, "tags": ["archived"]}, version=OLD)
    model = client.ok("models.get_by_id", {"model": mid}, version=NEW)["model"]
    assert model["tags"] == [] and model["system_tags"] == ["archived"]


def test_model_update_from_2_3_leaves_system_tags_alone(client):
    mid = _archived_model(client)
    client.ok("models.update", {"model": mid, "tags": ["test"]}, version=NEW)
    model = client.ok("models.get_by_id", {"model": mid}, version=NEW)["model"]
    assert model["tags"] == ["test"] and model["system_tags"] == ["archived"]


def test_task_edit_and_project_update_below_2_3_remove_the_system_tags_left_out(client):
    tid = client.ok("tasks.create", {"name": "legacy-t", "type": "training", "tags": ["archived", "mine"]},
                    version=OLD)["id"]
    client.ok("tasks.edit", {"task": tid, "tags": ["mine"]}, version=OLD)
    task = client.ok("tasks.get_by_id", {"task": tid}, version=NEW)["task"]
    assert task["tags"] == ["mine"] and task["system_tags"] == []
    assert client.ok("tasks.get_by_id", {"task": tid}, version=OLD)["task"]["tags"] == ["mine"]
    pid = client.ok("projects.create", {"name": "legacy-tags-p", "tags": ["archived", "x"]}, version=OLD)["id"]
    client.ok("projects.update", {"project": pid, "tags": ["x"]}, version=OLD)
    project = client.ok("projects.get_by_id", {"project": pid}, version=NEW)["project"]
    assert project["tags"] == ["x"] and project["system_tags"] == []
