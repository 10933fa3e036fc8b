"""References to ids that exist nowhere are stored as ClearML stores them; ids of another company's
models are stored too, and never let the storing company read, change or block those models.

Read from clearml-server apiserver/services/tasks.py `add_or_update_model` (stores the given id with no
lookup) and `create` -> apiserver/bll/task/task_bll.py `TaskBLL.validate` / `validate_input_models`
(only input models are looked up, among the company's and public ones; output entries are not).
"""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _task(client, name="ref-task", **extra) -> str:
    return client.ok("tasks.create", {"name": name, "type": "training", **extra}, version=V)["id"]


def _models(client, tid) -> dict:
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    return {kind: [(e["name"], e["model"]) for e in task["models"][kind]] for kind in ("input", "output")}


def test_ids_that_exist_nowhere_are_stored_by_create_and_add_or_update_model(client):
    tid = _task(client, models={"output": [{"name": "out", "model": "id3"}]})
    assert _models(client, tid)["output"] == [("out", "id3")]
    for kind in ("input", "output"):
        reply = client.ok("tasks.add_or_update_model", {"task": tid, "name": "w", "model": "Test", "type": kind},
                          version=V)
        assert reply == {"updated": 1}
    assert _models(client, tid) == {"input": [("w", "Test")], "output": [("out", "id3"), ("w", "Test")]}
    # input models named at create are looked up, as ClearML's validate_input_models does
    meta = client.error("tasks.create", {"name": "ref-task-2", "type": "training",
                                         "models": {"input": [{"name": "in", "model": "missing"}]}}, version=V)
    assert codes(meta) == (400, 201)


def test_an_id_of_another_companys_model_reads_changes_and_blocks_nothing(client, other_client):
    data = {"name": "private-model", "uri": "file:///p", "ready": False}
    theirs = other_client.ok("models.create", data, version=V)["id"]
    mine = _task(client)
    for kind in ("input", "output"):
        client.ok("tasks.add_or_update_model", {"task": mine, "name": "w", "model": theirs, "type": kind}, version=V)
    client.ok("tasks.started", {"task": mine}, version=V)
    client.ok("tasks.stopped", {"task": mine}, version=V)
    client.ok("tasks.publish", {"task": mine, "publish_model": True}, version=V)
    assert other_client.ok("models.get_by_id", {"model": theirs}, version=V)["model"]["ready"] is False
    joined = client.ok("tasks.get_all_ex", {"id": [mine], "only_fields": ["models.input.model.name"]},
                       version=V)["tasks"][0]
    assert "private-model" not in repr(joined)
    # the stored id does not count as a use: its company deletes it without force
    assert other_client.ok("models.delete", {"model": theirs}, version=V)["deleted"] is True
