"""The real ClearML SDK's training flow, in a subprocess, against a real gunicorn serving modelreg.

Task.init → OutputModel → update_labels / update_design (/ update_weights with an upload to /files) →
publish → task.close; then Task.get_task(id).models and Model.query_models find the model again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import requests

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent('''
    import json, os, sys
    from clearml import Model, OutputModel, Task

    project, name, upload, weights_path = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    task = Task.init(project_name=project, task_name=name, output_uri=True if upload else None,
                     reuse_last_task_id=False, auto_resource_monitoring=False)
    print("hello from the training script")
    task.get_logger().report_scalar("loss", "train", value=0.25, iteration=3)
    task.get_logger().report_text("a log line")
    model = OutputModel(task=task, name="sdk-model", framework="PyTorch", tags=["sdk"])
    # without output_uri the SDK registers file:///<path>; with it, it uploads to CLEARML_FILES_HOST
    model.update_weights(weights_filename=weights_path, auto_delete_file=False, async_enable=False)
    model.update_labels({"cat": 1, "dog": 2})
    model.update_design(config_dict={"layers": 3, "act": "relu"})
    model.publish()
    task_id, model_id = task.id, model.id
    task.close()

    again = Task.get_task(task_id=task_id)
    output_ids = [m.id for m in again.models["output"]]
    found = Model.query_models(project_name=project, model_name="sdk-model")
    result = {"task_id": task_id, "model_id": model_id, "status": again.get_status(), "output_ids": output_ids,
              "found_ids": [m.id for m in found]}
    if found:
        m = Model(found[0].id)
        result.update(labels=m.labels, config=m.config_dict, published=m.published, tags=m.tags,
                      framework=m.framework, url=m.url, task=m.task, project=m.project)
        if upload:
            local = m.get_local_copy()
            result["local_bytes"] = open(local, "rb").read().hex() if local else None
    print("RESULT " + json.dumps(result))
''')


def _run_sdk(live_server, tmp_path, project: str, name: str, upload: bool, weights: bytes = b"") -> dict:
    weights_path = tmp_path / "weights.pt"
    weights_path.write_bytes(weights)
    return live_server.run_sdk_script(tmp_path, SCRIPT, project, name, "1" if upload else "0", str(weights_path))


def _api(live_server, endpoint: str, data: dict) -> dict:
    reply = requests.post(f"{live_server.url}/v2.23/{endpoint}", json=data,
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def _check_flow(live_server, result: dict, project: str) -> None:
    assert result["status"] == "completed"
    assert result["found_ids"] == [result["model_id"]]
    assert result["model_id"] in result["output_ids"]
    assert result["labels"] == {"cat": 1, "dog": 2}
    assert result["config"] == {"layers": 3, "act": "relu"}
    assert result["published"] is True and result["framework"] == "PyTorch" and result["tags"] == ["sdk"]
    assert result["task"] == result["task_id"]
    task = _api(live_server, "tasks.get_by_id", {"task": result["task_id"]})["task"]
    assert task["script"] and task["runtime"] is not None and task["last_iteration"] >= 3
    assert any(v["value"] == 0.25 for variants in task["last_metrics"].values() for v in variants.values())
    [found] = _api(live_server, "projects.get_all", {"name": f"^{project}$"})["projects"]
    assert task["project"] == found["id"] == result["project"]
    log = _api(live_server, "events.get_task_log", {"task": result["task_id"]})
    assert any("hello from the training script" in (e.get("msg") or "") for e in log["events"])


def test_sdk_training_flow_registers_the_model(live_server, tmp_path):
    project = "sdk-flow"
    result = _run_sdk(live_server, tmp_path, project, "train-no-upload", upload=False, weights=b"w")
    _check_flow(live_server, result, project)
    assert result["url"] == (tmp_path / "weights.pt").as_uri()


def test_sdk_training_flow_with_uploaded_weights(live_server, tmp_path):
    files = requests.get(live_server.files_url + "/nothing-here", timeout=10,
                         auth=(live_server.access_key, live_server.secret_key))
    # the /files route answers an unknown path with a JSON envelope, not the server's bare 404/405
    assert "json" in files.headers.get("content-type", ""), f"the /files route is not served: {files.status_code}"
    weights = bytes(range(256)) * 64
    project = "sdk-flow-upload"
    result = _run_sdk(live_server, tmp_path, project, "train-upload", upload=True, weights=weights)
    _check_flow(live_server, result, project)
    assert result["url"].startswith(live_server.files_url + "/")
    assert bytes.fromhex(result["local_bytes"]) == weights


REUSE_SCRIPT = textwrap.dedent('''
    import json, sys
    from clearml import Task

    task = Task.init(project_name=sys.argv[1], task_name=sys.argv[2], auto_resource_monitoring=False)
    task.connect({"lr": float(sys.argv[3])})
    print("run", sys.argv[3])
    task_id = task.id
    task.close()
    print("RESULT " + json.dumps({"task_id": task_id}))
''')


def test_sdk_reuses_an_unfinished_task(live_server, tmp_path):
    """A second Task.init with the same project and name on the same machine reuses the task: the SDK
    resets it and edits it with the whole task it read."""
    script = tmp_path / "reuse.py"
    script.write_text(REUSE_SCRIPT)
    ids = []
    for lr in ("0.1", "0.2"):
        proc = subprocess.run([sys.executable, str(script), "sdk-reuse", "reused-task", lr],
                              env=live_server.sdk_env(tmp_path), cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-6000:]
        assert "Action failed" not in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-6000:]
        ids.append(json.loads(lines[-1][len("RESULT "):])["task_id"])
    assert ids[0] == ids[1]
    task = _api(live_server, "tasks.get_by_id", {"task": ids[0]})["task"]
    assert task["status"] == "completed"
    assert task["hyperparams"]["General"]["lr"]["value"] == "0.2"


CRASH_SCRIPT = textwrap.dedent('''
    from clearml import Task

    task = Task.init(project_name="sdk-crash", task_name="crashing", auto_resource_monitoring=False)
    print("TASK " + task.id)
    raise RuntimeError("training diverged")
''')


def test_sdk_marks_a_crashed_script_failed(live_server, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], env=live_server.sdk_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "training diverged" in proc.stderr
    [task_id] = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("TASK ")]
    task = _api(live_server, "tasks.get_by_id", {"task": task_id})["task"]
    assert task["status"] == "failed"
    log = _api(live_server, "events.get_task_log", {"task": task_id})
    assert any("training diverged" in (e.get("msg") or "") for e in log["events"])
