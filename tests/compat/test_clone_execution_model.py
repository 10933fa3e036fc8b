"""`tasks.clone` with `execution_overrides.model`: the copy's input model, looked up like any input model.

Read from clearml-server apiserver/bll/task/task_bll.py `TaskBLL.clone_task` (the popped
`execution_overrides.model` becomes the input model list when none is given, and
`validate_models=validate_references or input_models` then checks it in `validate_input_models`,
raising InvalidModelId) called by apiserver/services/tasks.py `clone_task`.
"""

from __future__ import annotations

import pytest

from tests.helpers import codes

V = "2.23"


@pytest.mark.parametrize("validate_references", [False, True])
def test_an_execution_model_that_does_not_exist_is_refused(client, validate_references):
    src = client.ok("tasks.create", {"name": "clone-source", "type": "training"}, version=V)["id"]
    request = {"task": src, "execution_overrides": {"model": "no-such-model"},
               "validate_references": validate_references, "new_project_name": "clones/refused"}
    meta = client.error("tasks.clone", request, version=V)
    assert codes(meta) == (400, 201) and "no-such-model" in meta["result_msg"]
    names = [t["name"] for t in client.ok("tasks.get_all", {"only_fields": ["name"]}, version=V)["tasks"]]
    assert names == ["clone-source"]  # nothing half-written: no copy, and no project made for it
    assert client.ok("projects.get_all", {"name": "^clones"}, version=V)["projects"] == []
    made = client.ok("tasks.clone", {"task": src, "new_project_name": "clones/kept"}, version=V)
    task = client.ok("tasks.get_by_id", {"task": made["id"]}, version=V)["task"]
    assert task["project"] == made["new_project"]["id"] and made["new_project"]["name"] == "clones/kept"


def test_an_execution_model_becomes_the_copys_input_model(client, other_client):
    src = client.ok("tasks.create", {"name": "clone-source", "type": "training"}, version=V)["id"]
    mid = client.ok("models.create", {"name": "exec-model", "uri": "file:///e"}, version=V)["id"]
    copy = client.ok("tasks.clone", {"task": src, "execution_overrides": {"model": mid}}, version=V)["id"]
    task = client.ok("tasks.get_by_id", {"task": copy}, version=V)["task"]
    assert [(e["name"], e["model"]) for e in task["models"]["input"]] == [("Input Model", mid)]
    assert "model" not in task["execution"]
    theirs = other_client.ok("models.create", {"name": "their-model", "uri": "file:///t"}, version=V)["id"]
    meta = client.error("tasks.clone", {"task": src, "execution_overrides": {"model": theirs}}, version=V)
    assert codes(meta) == (400, 201)
