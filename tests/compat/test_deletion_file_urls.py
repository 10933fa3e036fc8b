"""tasks.delete / tasks.reset / projects.delete answer the URLs of the files a task's events and
artifacts point at, so a client can clean its storage.

Read from clearml-server apiserver/bll/task/task_cleanup.py `cleanup_task` (with `return_file_urls`:
`collect_debug_image_urls` and `collect_plot_image_urls` give `event_urls`, the `uri` of each artifact
whose mode is output gives `artifact_urls`), and apiserver/bll/event/event_bll.py
`validate_and_compress_plots` (a plot's image sources, `"source": "<scheme>://..."` in `plot_str`).
"""

from __future__ import annotations

import json

V = "2.23"
IMAGE = "https://files.example/debug/img-1.png"
PLOT_IMAGE = "s3://bucket/plots/plot-1.jpg"
ARTIFACT = "s3://bucket/artifacts/data.csv"


def _task_with_files(client, name: str, project: str | None = None) -> str:
    extra = {"project": project} if project else {}
    tid = client.ok("tasks.create", {"name": name, "type": "training", **extra}, version=V)["id"]
    plot = {"data": [], "layout": {"images": [{"source": PLOT_IMAGE, "x": 0}]}}
    events = [
        {"type": "training_debug_image", "task": tid, "metric": "m", "variant": "v", "iter": 1, "url": IMAGE},
        {"type": "plot", "task": tid, "metric": "p", "variant": "v", "iter": 1, "plot_str": json.dumps(plot)},
        {"type": "log", "task": tid, "msg": "source: 'https://not-an-event-file'"},
    ]
    body = "\n".join(json.dumps(e) for e in events)
    result = client.raw(f"/v{V}/events.add_batch", body, headers={"Content-Type": "application/json-lines"})
    assert result.json["data"]["added"] == 3
    client.ok("tasks.add_or_update_artifacts", {"task": tid, "artifacts": [
        {"key": "data", "type": "csv", "uri": ARTIFACT, "mode": "output"},
        {"key": "given", "type": "csv", "uri": "s3://bucket/inputs/in.csv", "mode": "input"}]}, version=V)
    return tid


def test_delete_and_reset_return_event_and_artifact_urls(client):
    for endpoint in ("tasks.reset", "tasks.delete"):
        tid = _task_with_files(client, f"urls-{endpoint}")
        reply = client.ok(endpoint, {"task": tid, "force": True, "return_file_urls": True}, version=V)
        assert reply["urls"] == {"model_urls": [], "event_urls": sorted([IMAGE, PLOT_IMAGE]),
                                 "artifact_urls": [ARTIFACT]}
        assert "urls" not in client.ok(endpoint, {"task": _task_with_files(client, f"plain-{endpoint}"),
                                                  "force": True}, version=V)


def test_project_delete_with_contents_returns_its_tasks_file_urls(client):
    pid = client.ok("projects.create", {"name": "urls-project", "description": ""}, version=V)["id"]
    _task_with_files(client, "in-project", project=pid)
    reply = client.ok("projects.delete", {"project": pid, "force": True, "delete_contents": True}, version=V)
    assert reply["deleted_tasks"] == 1
    assert reply["urls"]["event_urls"] == sorted([IMAGE, PLOT_IMAGE])
    assert reply["urls"]["artifact_urls"] == [ARTIFACT]
