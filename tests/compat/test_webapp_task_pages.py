"""The ClearML web app's tasks table, task tabs and compare page, replayed through the full dispatcher
at /v999.0 with the request bodies the web app sends. Each test names the ClearML source the behaviour
was read from (clearml/clearml-server)."""

from __future__ import annotations

import json

from tests.helpers import codes

V = "999.0"


def _add_events(client, events) -> None:
    body = "\n".join(json.dumps(e) for e in events)
    result = client.raw("/v2.23/events.add_batch", body, method="GET",
                        headers={"Content-Type": "application/json-lines"})
    assert result.status_code == 200 and result.json["data"]["errors"] == 0, result.text


def _project_with_tasks(client):
    project = client.ok("projects.create", {"name": "vision"}, version="2.23")["id"]
    parent = client.ok("tasks.create", {"name": "base", "type": "training", "project": project}, version="2.23")["id"]
    child = client.ok("tasks.create", {"name": "tuned", "type": "testing", "project": project, "parent": parent},
                      version="2.23")["id"]
    return project, parent, child


def test_tasks_table_types_parents_and_by_id_ex(client, other_client):
    """apiserver/services/tasks.py get_types and get_by_id_ex; apiserver/services/projects.py
    get_task_parents (bll/project/project_queries.py): distinct types, the parents of the project's
    active tasks with names, get_all_ex rows for named ids."""
    project, parent, child = _project_with_tasks(client)
    assert client.ok("tasks.get_types", {"projects": [project]}, version=V) == {"types": ["testing", "training"]}
    assert other_client.ok("tasks.get_types", {"projects": [project]}, version=V) == {"types": []}
    parents = client.ok("projects.get_task_parents", {"projects": [project], "tasks_state": "active"}, version=V)
    assert parents == {"parents": [{"id": parent, "name": "base", "project": {"id": project}}]}
    assert other_client.ok("projects.get_task_parents", {"projects": [project]}, version=V) == {"parents": []}
    client.ok("tasks.archive_many", {"ids": [child]}, version="2.23")
    assert client.ok("projects.get_task_parents", {"projects": [project]}, version=V)["parents"] == []
    rows = client.ok("tasks.get_by_id_ex", {"id": [child], "only_fields": ["name", "parent.name", "project.name"]},
                     version=V)["tasks"]
    assert rows == [{"id": child, "name": "tuned", "parent": {"id": parent, "name": "base"},
                     "project": {"id": project, "name": "vision"}}]
    assert codes(client.error("tasks.get_by_id_ex", {"only_fields": ["name"]}, version=V)) == (400, 11)
    assert other_client.ok("tasks.get_by_id_ex", {"id": [child]}, version=V)["tasks"] == []


def test_get_all_ex_as_the_dashboard_and_compare_page_send_it(client):
    """apiserver/services/tasks.py get_all_ex: a bare `"user": null` filters nothing (the dashboard's
    recent tasks); `models.input.model.name` joins the input model's name into each entry (the compare
    page); `active_duration` is a task field that may be listed."""
    project, parent, child = _project_with_tasks(client)
    model = client.ok("models.create", {"name": "weights", "uri": "s3://b/w"}, version="2.23")["id"]
    client.ok("tasks.add_or_update_model", {"task": child, "type": "input", "name": "init", "model": model},
              version="2.23")
    dashboard = {"only_fields": ["type", "status", "created", "name", "id", "last_update", "started",
                                 "project.name"], "order_by": ["-last_update"], "page": 0, "page_size": 5,
                 "system_tags": ["-archived", "-pipeline"], "user": None}
    assert {t["id"] for t in client.ok("tasks.get_all_ex", dashboard, version=V)["tasks"]} == {parent, child}
    # a null inside the list still matches tasks without the field
    assert client.ok("tasks.get_all_ex", {**dashboard, "user": [None]}, version=V)["tasks"] == []
    compare = client.ok("tasks.get_all_ex", {"id": [child], "only_fields": [
        "name", "models.input.model.name", "models.input.name", "active_duration"]}, version=V)["tasks"]
    entries = compare[0]["models"]["input"]
    assert [(e["name"], e["model"]) for e in entries] == [("init", {"id": model, "name": "weights"})]
    assert "active_duration" not in compare[0]  # never set here: listed without failing


def test_metric_reads_of_a_task(client, other_client):
    """apiserver/services/events.py get_task_metrics, get_task_single_value_metrics,
    scalar_metrics_iter_histogram and get_task_plots (bll/event/): the reply shapes of the task tabs."""
    project, parent, task = _project_with_tasks(client)
    _add_events(client, [
        {"task": task, "type": "training_stats_scalar", "metric": "loss", "variant": "train", "iter": i,
         "value": 1.0 / (i + 1), "timestamp": 1000 + i} for i in range(3)] + [
        {"task": task, "type": "training_stats_scalar", "metric": "acc", "variant": "final", "iter": -(2**31),
         "value": 0.9, "timestamp": 2000},
        {"task": task, "type": "plot", "metric": "roc", "variant": "v", "iter": 2, "plot_str": "{}", "timestamp": 3},
        {"task": task, "type": "training_debug_image", "metric": "samples", "variant": "img", "iter": 1,
         "url": "http://x/a.png", "timestamp": 4},
    ])
    assert client.ok("events.get_task_metrics", {"tasks": [task], "event_type": "training_debug_image"},
                     version=V) == {"metrics": [{"task": task, "metrics": ["samples"]}]}
    single = client.ok("events.get_task_single_value_metrics", {"tasks": [task]}, version=V)["tasks"]
    assert single == [{"task": task, "task_name": "tuned",
                       "values": [{"metric": "acc", "variant": "final", "value": 0.9, "timestamp": 2000}]}]
    histogram = client.ok("events.scalar_metrics_iter_histogram", {"task": task, "samples": 5000, "key": "iter"},
                          version=V)
    assert histogram == {"loss": {"train": {"name": "train", "x": [0, 1, 2], "y": [1.0, 0.5, 1 / 3]}}}
    plots = client.ok("events.get_task_plots", {"task": task, "iters": 1, "scroll_id": None}, version=V)
    assert plots["returned"] == 1 and plots["plots"][0]["metric"] == "roc"
    variants = client.ok("projects.get_unique_metric_variants", {"project": project}, version=V)["metrics"]
    assert [(m["metric"], m["variant"]) for m in variants] == [("acc", "final"), ("loss", "train")]
    # another company's task is not found, its metrics not listed
    assert codes(other_client.error("events.scalar_metrics_iter_histogram", {"task": task}, version=V)) == (400, 101)
    assert other_client.ok("projects.get_unique_metric_variants", {"project": project}, version=V) == {"metrics": []}
