"""The SDK records artifacts through tasks.add_or_update_artifacts and reads them back (e2e)."""

from __future__ import annotations

import textwrap

import pytest
import requests

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent('''
    import json, sys
    from clearml import Task

    task = Task.init(project_name=sys.argv[1], task_name="artifact-run", output_uri=True,
                     reuse_last_task_id=False, auto_resource_monitoring=False)
    task.upload_artifact("stats", artifact_object={"a": 1, "b": [2, 3]}, wait_on_upload=True)
    task_id = task.id
    task.flush(wait_for_uploads=True)
    task.close()
    again = Task.get_task(task_id=task_id)
    artifacts = again.artifacts
    result = {"task_id": task_id, "keys": sorted(artifacts),
              "object": artifacts["stats"].get() if "stats" in artifacts else None}
    print("RESULT " + json.dumps(result))
''')


def test_sdk_uploads_an_artifact_and_reads_it_back(live_server, tmp_path):
    files = requests.get(live_server.files_url + "/nothing-here", timeout=10,
                         auth=(live_server.access_key, live_server.secret_key))
    # the /files route answers an unknown path with a JSON envelope, not the server's bare 404/405
    assert "json" in files.headers.get("content-type", ""), f"the /files route is not served: {files.status_code}"
    result = live_server.run_sdk_script(tmp_path, SCRIPT, "sdk-artifacts")
    assert result["keys"] == ["stats"]
    assert result["object"] == {"a": 1, "b": [2, 3]}
    reply = requests.post(f"{live_server.url}/v2.23/tasks.get_by_id", json={"task": result["task_id"]},
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    [artifact] = reply.json()["data"]["task"]["execution"]["artifacts"]
    assert artifact["key"] == "stats" and artifact["mode"] == "output" and artifact["uri"]
