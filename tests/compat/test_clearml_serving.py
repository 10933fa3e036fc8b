"""clearml-serving against a real gunicorn serving modelreg, unchanged: its command line sets up a serving
service (a model file uploaded and published through it, endpoints on a model by id and by name, one
following a registered model's newest versions, a canary route over them, metrics), and its inference
engine, run as its container runs it (minus the HTTP front), starts an instance task, follows the
versions, downloads the preprocessing code and each model's weights from the registry and answers
requests with them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import pytest
import requests

pytestmark = pytest.mark.e2e

PREPROCESS = textwrap.dedent('''
    import hashlib


    class Preprocess:
        def load(self, local_file_name):
            with open(local_file_name, "rb") as f:
                self.weights = f.read()
            return self.weights

        def preprocess(self, body, state, collect_custom_statistics_fn=None):
            return body["x"]

        def process(self, data, state, collect_custom_statistics_fn=None):
            return {"y": data * 2, "weights_sha256": hashlib.sha256(self.weights).hexdigest()}

        def postprocess(self, data, state, collect_custom_statistics_fn=None):
            return data
''')

# what the serving container does at start (clearml_serving/serving/main.py), then one request per endpoint
ENGINE = textwrap.dedent('''
    import asyncio, json, os, sys
    os.environ["CLEARML_SERVING_TASK_ID"] = sys.argv[1]
    from clearml_serving.serving.init import setup_task
    from clearml_serving.serving.model_request_processor import ModelRequestProcessor

    serving_id, session_logger, instance_id = setup_task()
    processor = ModelRequestProcessor(task_id=serving_id, update_lock_guard=None)
    processor.launch(poll_frequency_sec=600)
    answers = {}
    for url, version in (("fixed", None), ("newest", "1"), ("newest", "2"), ("canary", None), ("uploaded", None)):
        answers[f"{url}/{version}"] = asyncio.run(
            processor.process_request(base_url=url, version=version, request_body={"x": 21}))
    print("RESULT " + json.dumps({"instance": instance_id, "answers": answers}))
    sys.stdout.flush()
    os._exit(0)  # its sync and statistics threads never end
''')


def _api(live_server, endpoint: str, data: dict, version: str = "2.99") -> dict:
    reply = requests.post(f"{live_server.url}/v{version}/{endpoint}", json=data,
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def _version_with_weights(live_server, name: str, weights: bytes) -> str:
    model = _api(live_server, "models.create", {"name": name, "uri": "file:///pending", "ready": True})["id"]
    reply = requests.post(f"{live_server.url}/v2.13/models.upload", params={"model": model, "filename": "m.bin"},
                          data=weights, auth=(live_server.access_key, live_server.secret_key), timeout=60)
    assert reply.status_code == 200, reply.text
    return model


def _serving(live_server, tmp_path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "clearml_serving", *args], env=live_server.sdk_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Error:" not in output and "Action failed" not in output, output[-6000:]
    return output


def test_clearml_serving_sets_up_a_service_and_serves_the_registrys_models(live_server, tmp_path):
    first, second = b"weights one" * 100, b"weights two" * 100
    older = _version_with_weights(live_server, "served-model", first)
    newer = _version_with_weights(live_server, "served-model", second)
    (tmp_path / "preprocess.py").write_text(PREPROCESS)

    created = _serving(live_server, tmp_path, "create", "--name", "serving e2e", "--project", "serving-e2e")
    service = created.split("id=")[-1].split()[0]
    _serving(live_server, tmp_path, "--id", service, "model", "add", "--engine", "custom", "--endpoint", "fixed",
             "--preprocess", "preprocess.py", "--model-id", older)
    # its quick start: a model file uploaded and published through it, then served by name and project
    uploaded = b"uploaded through clearml-serving" * 50
    (tmp_path / "model.pkl").write_bytes(uploaded)
    _serving(live_server, tmp_path, "--id", service, "model", "upload", "--name", "uploaded-model", "--project",
             "serving-e2e-models", "--framework", "scikitlearn", "--path", "model.pkl", "--publish")
    _serving(live_server, tmp_path, "--id", service, "model", "add", "--engine", "custom", "--endpoint", "uploaded",
             "--preprocess", "preprocess.py", "--name", "uploaded-model", "--project", "serving-e2e-models",
             "--published")
    _serving(live_server, tmp_path, "--id", service, "model", "auto-update", "--engine", "custom", "--endpoint",
             "newest", "--preprocess", "preprocess.py", "--name", "served-model", "--max-versions", "2")
    _serving(live_server, tmp_path, "--id", service, "model", "canary", "--endpoint", "canary", "--weights", "0.5",
             "0.5", "--input-endpoint-prefix", "newest")
    _serving(live_server, tmp_path, "--id", service, "metrics", "add", "--endpoint", "fixed",
             "--variable-scalar", "y=0,50,100")
    listed = _serving(live_server, tmp_path, "--id", service, "model", "list")
    assert '"fixed"' in listed and '"newest"' in listed and older in listed
    assert service in _serving(live_server, tmp_path, "list")

    # the service's state is what the server keeps: configuration objects and the preprocessing artifact
    configurations = _api(live_server, "tasks.get_configurations", {"tasks": [service]}, "2.13")["configurations"]
    names = {c["name"] for c in configurations[0]["configuration"]}
    assert {"endpoints", "model_monitoring", "metric_logging"} <= names

    engine = tmp_path / "engine.py"
    engine.write_text(ENGINE)
    proc = subprocess.run([sys.executable, str(engine), service], env=live_server.sdk_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-4000:] + proc.stderr[-6000:]
    assert "Action failed" not in proc.stdout + proc.stderr, proc.stderr[-6000:]
    result = json.loads(lines[-1][len("RESULT "):])
    sha = {older: hashlib.sha256(first).hexdigest(), newer: hashlib.sha256(second).hexdigest()}
    # the followed versions are numbered oldest first: version 2 is the newest model
    canary = result["answers"].pop("canary/None")  # routed to one of the two versions at random
    assert result["answers"].pop("uploaded/None") == {"y": 42, "weights_sha256": hashlib.sha256(uploaded).hexdigest()}
    assert result["answers"] == {
        "fixed/None": {"y": 42, "weights_sha256": sha[older]},
        "newest/1": {"y": 42, "weights_sha256": sha[older]},
        "newest/2": {"y": 42, "weights_sha256": sha[newer]},
    }
    assert canary["y"] == 42 and canary["weights_sha256"] in sha.values()
    instance = _api(live_server, "tasks.get_by_id", {"task": result["instance"]}, "2.13")["task"]
    assert instance["type"] == "inference" and "service" in instance["system_tags"]
    monitored = _api(live_server, "tasks.get_configurations", {"tasks": [service]}, "2.13")["configurations"]
    assert "model_monitoring_eps" in {c["name"] for c in monitored[0]["configuration"]}

    _serving(live_server, tmp_path, "--id", service, "model", "remove", "--endpoint", "fixed")
    assert '"fixed"' not in _serving(live_server, tmp_path, "--id", service, "model", "list")
