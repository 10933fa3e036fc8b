"""tasks artifacts, configuration, hyper-parameters, batch operations and events.add."""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _task(client, name="params-task", **extra):
    return client.ok("tasks.create", {"name": name, "type": "training", **extra}, version=V)["id"]


def _artifacts(client, tid):
    return client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["execution"].get("artifacts")


def test_artifacts_keyed_by_key_and_mode_sorted_by_key(client, other_client):
    tid = _task(client)
    body = {"task": tid, "artifacts": [{"key": "b", "type": "str", "uri": "s3://x/b"},
                                       {"key": "a", "type": "str", "mode": "input", "uri": "s3://x/a"}]}
    assert client.ok("tasks.add_or_update_artifacts", body, version="2.10") == {"updated": 1}
    client.ok("tasks.add_or_update_artifacts", {"task": tid, "artifacts": [
        {"key": "b", "type": "dict", "uri": "s3://x/b2"}, {"key": "a", "type": "str"}]}, version=V)
    found = _artifacts(client, tid)
    assert [(a["key"], a["mode"]) for a in found] == [("a", "input"), ("a", "output"), ("b", "output")]
    assert found[2]["uri"] == "s3://x/b2" and found[2]["type"] == "dict"
    assert client.ok("tasks.delete_artifacts", {"task": tid, "artifacts": [{"key": "a"}]}, version=V) == {
        "deleted": 1}
    assert [(a["key"], a["mode"]) for a in _artifacts(client, tid)] == [("a", "input"), ("b", "output")]
    assert codes(other_client.error("tasks.add_or_update_artifacts", body, version=V)) == (400, 101)
    assert codes(client.error("tasks.add_or_update_artifacts", body, version="2.9")) == (404, 0)


def test_artifacts_need_force_once_the_task_left_created(client):
    tid = _task(client)
    client.ok("tasks.started", {"task": tid}, version=V)
    body = {"task": tid, "artifacts": [{"key": "k", "type": "str"}]}
    assert codes(client.error("tasks.add_or_update_artifacts", body, version=V)) == (400, 110)
    assert client.ok("tasks.add_or_update_artifacts", {**body, "force": True}, version=V) == {"updated": 1}
    assert codes(client.error("tasks.delete_artifacts", {"task": tid, "artifacts": [{"key": "k"}]},
                              version=V)) == (400, 110)


def test_configuration_get_and_edit(client, other_client):
    tid = _task(client, configuration={"a.b": {"name": "a.b", "value": "1", "type": "str"}})
    client.ok("tasks.edit_configuration", {"task": tid, "configuration": [{"name": "c", "value": "2"}]}, version=V)
    [entry] = client.ok("tasks.get_configurations", {"tasks": [tid]}, version=V)["configurations"]
    assert entry["task"] == tid
    assert [(c["name"], c["value"]) for c in entry["configuration"]] == [("a.b", "1"), ("c", "2")]
    [entry] = client.ok("tasks.get_configurations", {"tasks": [tid], "names": ["c"]}, version=V)["configurations"]
    assert [c["name"] for c in entry["configuration"]] == ["c"]
    client.ok("tasks.edit_configuration", {"task": tid, "configuration": [{"name": "d", "value": "3"}],
                                           "replace_configuration": True}, version=V)
    [entry] = client.ok("tasks.get_configurations", {"tasks": [tid]}, version=V)["configurations"]
    assert [c["name"] for c in entry["configuration"]] == ["d"]
    assert other_client.ok("tasks.get_configurations", {"tasks": [tid]}, version=V)["configurations"] == []


def test_hyper_params_get_and_edit(client):
    tid = _task(client, hyperparams={"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1"}}})
    client.ok("tasks.edit_hyper_params", {"task": tid, "hyperparams": [
        {"section": "Args", "name": "batch", "value": "32"}, {"section": "General", "name": "x.y", "value": "z"}]},
        version=V)
    [entry] = client.ok("tasks.get_hyper_params", {"tasks": [tid]}, version=V)["params"]
    assert [(p["section"], p["name"], p["value"]) for p in entry["hyperparams"]] == [
        ("Args", "batch", "32"), ("Args", "lr", "0.1"), ("General", "x.y", "z")]
    client.ok("tasks.edit_hyper_params", {"task": tid, "replace_hyperparams": "section", "hyperparams": [
        {"section": "Args", "name": "only", "value": "1"}]}, version=V)
    [entry] = client.ok("tasks.get_hyper_params", {"tasks": [tid]}, version=V)["params"]
    assert [(p["section"], p["name"]) for p in entry["hyperparams"]] == [("Args", "only"), ("General", "x.y")]
    client.ok("tasks.started", {"task": tid}, version=V)
    assert codes(client.error("tasks.edit_hyper_params", {"task": tid, "hyperparams": [
        {"section": "A", "name": "b", "value": "c"}]}, version=V)) == (400, 110)
    # the properties section may change in any status; items need section, name and value
    assert client.ok("tasks.edit_hyper_params", {"task": tid, "hyperparams": [
        {"section": "properties", "name": "host", "value": "h"}]}, version=V) == {"updated": 1}
    assert codes(client.error("tasks.edit_hyper_params", {"task": tid, "force": True, "hyperparams": [
        {"section": "A", "name": "b"}]}, version=V)) == (400, 12)
    assert codes(client.error("tasks.edit_hyper_params", {"task": tid, "hyperparams": []}, version=V)) == (400, 12)


def test_task_batch_operations(client, other_client):
    a, b = _task(client, name="batch-a"), _task(client, name="batch-b")
    reply = client.ok("tasks.archive_many", {"ids": [a, b, "nope"]}, version=V)
    assert [s["archived"] for s in reply["succeeded"]] == [True, True]
    assert [f["id"] for f in reply["failed"]] == ["nope"] and reply["failed"][0]["error"]["codes"] == [400, 101]
    assert client.ok("tasks.get_by_id", {"task": a}, version=V)["task"]["system_tags"] == ["archived"]
    reply = client.ok("tasks.unarchive_many", {"ids": [a]}, version=V)
    assert reply["succeeded"] == [{"id": a, "unarchived": True}]
    client.ok("tasks.started", {"task": a}, version=V)
    reply = client.ok("tasks.stop_many", {"ids": [a, b]}, version=V)
    assert [s["id"] for s in reply["succeeded"]] == [a] and [f["id"] for f in reply["failed"]] == [b]
    reply = client.ok("tasks.reset_many", {"ids": [a]}, version=V)
    assert reply["succeeded"][0]["dequeued"] is False
    assert client.ok("tasks.get_by_id", {"task": a}, version=V)["task"]["status"] == "created"
    reply = client.ok("tasks.publish_many", {"ids": [a], "force": True}, version=V)
    assert reply["succeeded"][0]["fields"]["status"] == "published"
    reply = client.ok("tasks.delete_many", {"ids": [a, b]}, version=V)
    assert [s["id"] for s in reply["succeeded"]] == [b] and reply["failed"][0]["error"]["codes"] == [400, 123]
    reply = other_client.ok("tasks.delete_many", {"ids": [a]}, version=V)
    assert reply["succeeded"] == [] and reply["failed"][0]["error"]["codes"] == [400, 101]
    assert client.ok("tasks.delete_many", {"ids": [a], "force": True}, version=V)["succeeded"][0]["deleted"]


def test_events_add_single_event(client, other_client):
    tid = _task(client)
    reply = client.ok("events.add", {"task": tid, "type": "training_stats_scalar", "metric": "loss",
                                     "variant": "train", "value": 0.5, "iter": 4}, version=V)
    assert reply["added"] == 1 and reply["errors"] == 0
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["last_iteration"] == 4
    reply = other_client.ok("events.add", {"task": tid, "type": "log", "msg": "x"}, version=V)
    assert reply["added"] == 0 and reply["errors"] == 1
    assert codes(client.error("events.add", {"type": "log"}, version=V)) == (400, 12)


def test_artifacts_sent_with_create_are_keyed_and_sorted(client):
    tid = _task(client, execution={"artifacts": [{"key": "z", "type": "str"}, {"key": "a", "type": "str"},
                                                 {"key": "z", "type": "dict", "mode": "output"}]})
    found = _artifacts(client, tid)
    assert [(a["key"], a["mode"], a["type"]) for a in found] == [("a", "output", "str"), ("z", "output", "dict")]


def test_configuration_names_and_deleting_configuration_and_hyper_params(client):
    tid = _task(client, configuration={"a.b": {"name": "a.b", "value": "1"}, "empty": {"name": "empty", "value": ""}},
                hyperparams={"Args": {"x": {"section": "Args", "name": "x", "value": "1"},
                                      "y": {"section": "Args", "name": "y", "value": "2"}},
                             "Other": {"z": {"section": "Other", "name": "z", "value": "3"}}})
    [entry] = client.ok("tasks.get_configuration_names", {"tasks": [tid]}, version=V)["configurations"]
    assert entry == {"task": tid, "names": ["a.b"]}
    [entry] = client.ok("tasks.get_configuration_names", {"tasks": [tid], "skip_empty": False},
                        version=V)["configurations"]
    assert entry["names"] == ["a.b", "empty"]
    assert client.ok("tasks.delete_configuration", {"task": tid, "configuration": ["a.b"]}, version=V) == {
        "deleted": 1}
    [entry] = client.ok("tasks.get_configurations", {"tasks": [tid]}, version=V)["configurations"]
    assert [c["name"] for c in entry["configuration"]] == ["empty"]
    client.ok("tasks.delete_hyper_params", {"task": tid, "hyperparams": [{"section": "Args", "name": "x"},
                                                                        {"section": "Other"}]}, version=V)
    [entry] = client.ok("tasks.get_hyper_params", {"tasks": [tid]}, version=V)["params"]
    assert [(p["section"], p["name"]) for p in entry["hyperparams"]] == [("Args", "y")]
    client.ok("tasks.started", {"task": tid}, version=V)
    meta = client.error("tasks.delete_hyper_params", {"task": tid, "hyperparams": [{"section": "Args"}]}, version=V)
    assert codes(meta) == (400, 110)
