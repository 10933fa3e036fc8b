"""events.add_batch / events.get_task_log: JSON-lines batches, log read-back, last_metrics."""

from __future__ import annotations

import json

from tests.helpers import codes

V = "2.23"


def add_events(client, events, version=V, raw: str | None = None) -> dict:
    body = raw if raw is not None else "\n".join(json.dumps(e) for e in events)
    result = client.raw(f"/v{version}/events.add_batch", body, method="GET",
                        headers={"Content-Type": "application/json-lines"})
    assert result.status_code == 200, result.text
    return result.json["data"]


def _task(client, name="event-task"):
    return client.ok("tasks.create", {"name": name, "type": "training"}, version=V)["id"]


def test_log_events_as_the_sdk_sends_them_and_read_back(client):
    tid = _task(client)
    events = [{"timestamp": 1000 + n, "type": "log", "task": tid, "level": "info", "worker": "host",
               "msg": f"line {n}", "model_event": False, "allow_locked": False, "odd.key": {"$weird": 1}}
              for n in range(5)]
    assert add_events(client, events) == {"added": 5, "errors": 0, "errors_info": {}}
    log = client.ok("events.get_task_log", {"task": tid, "batch_size": 2}, version=V)
    assert log["total"] == 5 and log["returned"] == 2
    assert [e["msg"] for e in log["events"]] == ["line 4", "line 3"]
    assert log["events"][0]["level"] == "info" and log["events"][0]["task"] == tid
    assert log["events"][0]["odd.key"] == {"$weird": 1}
    older = client.ok("events.get_task_log", {"task": tid, "batch_size": 10,
                                              "from_timestamp": log["events"][-1]["timestamp"]}, version=V)
    assert [e["msg"] for e in older["events"]] == ["line 2", "line 1", "line 0"]
    forward = client.ok("events.get_task_log", {"task": tid, "navigate_earlier": False, "batch_size": 2},
                        version=V)
    assert [e["msg"] for e in forward["events"]] == ["line 0", "line 1"]


def test_scalars_update_task_last_metrics_and_iteration(client):
    tid = _task(client)
    scalars = [{"task": tid, "type": "training_stats_scalar", "metric": "loss", "variant": "train", "value": v,
                "iter": i, "timestamp": 10 + i} for i, v in enumerate([3.0, 1.0, 2.0])]
    assert add_events(client, scalars)["added"] == 3
    add_events(client, [{"task": tid, "type": "training_stats_scalar", "metric": "loss", "variant": "train",
                         "value": 0.5, "iter": 5}])
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["last_iteration"] == 5
    [variants] = task["last_metrics"].values()
    [entry] = variants.values()
    assert entry["metric"] == "loss" and entry["variant"] == "train" and entry["value"] == 0.5
    assert entry["min_value"] == 0.5 and entry["min_value_iteration"] == 5
    assert entry["max_value"] == 3.0 and entry["max_value_iteration"] == 0
    assert entry["first_value"] == 3.0 and entry["count"] == 4 and entry["mean_value"] == 1.625
    # the engine can filter on them
    path = f"last_metrics.{next(iter(task['last_metrics']))}.{next(iter(variants))}.value"
    found = client.ok("tasks.get_all", {path: [0, 1]}, version=V)["tasks"]
    assert [t["id"] for t in found] == [tid]


def test_model_events_update_the_model(client):
    model = client.ok("models.create", {"name": "model-x", "uri": "file:///m"}, version=V)["id"]
    add_events(client, [{"task": model, "model_event": True, "type": "training_stats_scalar", "metric": "acc",
                         "variant": "val", "value": 0.9, "iter": 4}])
    doc = client.ok("models.get_by_id", {"model": model}, version=V)["model"]
    assert doc["last_iteration"] == 4
    [variants] = doc["last_metrics"].values()
    assert [v["value"] for v in variants.values()] == [0.9]


def test_bad_events_are_counted_not_failed(client, other_client):
    tid = _task(client)
    foreign = _task(other_client, "foreign-task")
    reply = add_events(client, [{"task": "nope", "type": "log", "msg": "x"}, {"type": "log", "msg": "no task"},
                                {"task": foreign, "type": "log", "msg": "x"}, {"task": tid, "type": "log"}])
    assert reply["added"] == 1 and reply["errors"] == 3
    client.ok("tasks.started", {"task": tid}, version=V)
    client.ok("tasks.publish", {"task": tid, "force": True}, version=V)
    reply = add_events(client, [{"task": tid, "type": "log", "msg": "late"},
                                {"task": tid, "type": "log", "msg": "late", "allow_locked": True}])
    assert reply["added"] == 1 and reply["errors"] == 1
    assert add_events(client, [], raw="") == {"added": 0, "errors": 0, "errors_info": {}}


def test_get_task_log_unknown_task(client):
    assert codes(client.error("events.get_task_log", {"task": "nope"}, version=V)) == (400, 101)


def test_reset_and_delete_remove_events(client):
    tid = _task(client)
    add_events(client, [{"task": tid, "type": "log", "msg": "x"}])
    assert client.ok("tasks.delete", {"task": tid}, version=V)["events"] == {"deleted": 1}


def test_odd_values_in_one_event_do_not_fail_the_batch(client):
    tid = _task(client, "odd-values")
    reply = add_events(client, [
        {"task": tid, "type": "training_stats_scalar", "metric": "loss", "variant": "v", "value": None, "iter": "x"},
        {"task": tid, "type": "training_stats_scalar", "metric": "loss", "variant": "v", "value": "nan?",
         "timestamp": "yesterday"},
        {"task": tid, "type": "training_stats_scalar", "metric": "loss", "variant": "v", "value": 2.5, "iter": 3},
    ])
    assert reply["added"] == 3
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["last_iteration"] == 3
    [variants] = task["last_metrics"].values()
    assert [v["value"] for v in variants.values()] == [2.5]
