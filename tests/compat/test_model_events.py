"""Model events: reported with `model_event: true` and read back as the web app's model Scalars and
Plots tabs read them.

Read from clearml-server apiserver/services/events.py `get_task_plots`, `scalar_metrics_iter_histogram`
and `get_task_single_value_metrics` (each with `model_events`, looking the id up as a model through
`_assert_task_or_model_exists`), and from the ClearML web app's calls for a model
(models-info.effects.ts `fetchExperimentPlots$`: `events.get_task_plots {task, model_events: true}`;
common-experiment-output.effects.ts: `events.scalar_metrics_iter_histogram {task, key, model_events}`
and `events.get_task_single_value_metrics {tasks: [id], model_events}`).
"""

from __future__ import annotations

import json

from tests.helpers import codes

V = "2.23"
SINGLE = -(2**31)


def _send(client, events: list[dict]) -> dict:
    body = "\n".join(json.dumps(e) for e in events)
    result = client.raw(f"/v{V}/events.add_batch", body, headers={"Content-Type": "application/json-lines"})
    assert result.status_code == 200, result.text
    return result.json["data"]


def _model(client, name="events-model") -> str:
    return client.ok("models.create", {"name": name, "uri": f"file:///{name}"}, version=V)["id"]


def test_model_scalars_and_plots_read_back(client):
    mid = _model(client)
    plot = json.dumps({"data": [{"x": [1, 2]}], "layout": {"title": "roc"}})
    events = [{"type": "training_stats_scalar", "model": mid, "model_event": True, "metric": "loss",
               "variant": "train", "iter": i, "value": 1.0 / (i + 1), "timestamp": 1000 + i} for i in range(4)]
    events += [{"type": "plot", "model": mid, "model_event": True, "metric": "roc", "variant": "v", "iter": i,
                "plot_str": plot} for i in (1, 2)]
    events.append({"type": "training_stats_scalar", "task": mid, "model_event": True, "metric": "Summary",
                    "variant": "accuracy", "iter": SINGLE, "value": 0.9})
    assert _send(client, events) == {"added": 7, "errors": 0, "errors_info": {}}
    version = "999.0"  # what the web app asks for
    hist = client.ok("events.scalar_metrics_iter_histogram", {"task": mid, "key": "iter", "model_events": True},
                     version=version)
    assert hist == {"loss": {"train": {"name": "train", "x": [0, 1, 2, 3], "y": [1.0, 0.5, 1 / 3, 0.25]}}}
    sampled = client.ok("events.scalar_metrics_iter_histogram",
                        {"task": mid, "samples": 2, "model_events": True}, version=version)["loss"]["train"]
    assert sampled["x"] == [0, 2] and sampled["y"] == [0.75, (1 / 3 + 0.25) / 2]
    plots = client.ok("events.get_task_plots", {"task": mid, "model_events": True}, version=version)
    assert plots["returned"] == plots["total"] == 1
    assert plots["plots"][0]["iter"] == 2 and plots["plots"][0]["plot_str"] == plot
    two = client.ok("events.get_task_plots", {"task": mid, "iters": 2, "model_events": True}, version=version)
    assert [p["iter"] for p in two["plots"]] == [2, 1]
    single = client.ok("events.get_task_single_value_metrics", {"tasks": [mid], "model_events": True},
                       version=version)["tasks"]
    assert single[0]["task"] == mid and single[0]["task_name"] == "events-model"
    assert [(v["metric"], v["variant"], v["value"]) for v in single[0]["values"]] == [("Summary", "accuracy", 0.9)]


def test_task_and_model_events_stay_apart_and_other_companies_see_nothing(client, other_client):
    mid = _model(client)
    tid = client.ok("tasks.create", {"name": "events-task", "type": "training"}, version=V)["id"]
    _send(client, [{"type": "training_stats_scalar", "task": tid, "metric": "m", "variant": "v", "iter": 1,
                    "value": 2.0}])
    assert client.ok("events.scalar_metrics_iter_histogram", {"task": tid}, version=V) == {
        "m": {"v": {"name": "v", "x": [1], "y": [2.0]}}}
    assert client.ok("events.scalar_metrics_iter_histogram", {"task": mid, "model_events": True}, version=V) == {}
    meta = client.error("events.scalar_metrics_iter_histogram", {"task": tid, "model_events": True}, version=V)
    assert codes(meta) == (400, 201)
    assert codes(other_client.error("events.get_task_plots", {"task": mid, "model_events": True}, version=V)) == (
        400, 201)
    assert codes(other_client.error("events.scalar_metrics_iter_histogram", {"task": tid}, version=V)) == (400, 101)
    assert codes(client.error("events.get_task_plots", {"task": mid, "model_events": True}, version="2.21")) == (
        400, 101)  # below 2.22 there are no model events: the id is looked up as a task
