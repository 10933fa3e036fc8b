"""The real ClearML SDK moving a model file through modelreg's /files route (real gunicorn, real S3).

StorageManager.upload_file → InputModel.import_model(weights_url=...) → Model(id).get_local_copy() gives
the same bytes back → Model.remove(..., delete_weights_file=True) deletes the model and the file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest
import requests

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent('''
    import hashlib, json, os, sys
    from clearml import InputModel, Model, StorageManager

    source, project = sys.argv[1], sys.argv[2]
    target = os.environ["CLEARML_FILES_HOST"] + "/" + project + "/weights dir/model v1.pt"
    url = StorageManager.upload_file(source, target)
    result = {"url": url, "exists": bool(StorageManager.exists_file(url))}
    imported = InputModel.import_model(weights_url=url, name="sdk file model", project=project)
    result["model_id"] = model_id = imported.id
    local = Model(model_id).get_local_copy()
    result["local_sha256"] = hashlib.sha256(open(local, "rb").read()).hexdigest() if local else None
    result["removed"] = Model.remove(Model(model_id), delete_weights_file=True, force=True)
    result["exists_after"] = bool(StorageManager.exists_file(url))
    print("RESULT " + json.dumps(result))
''')


def _run(live_server, tmp_path, *args) -> dict:
    return live_server.run_sdk_script(tmp_path, SCRIPT, *args)


@pytest.mark.parametrize("size", [1234, 20 * 1024 * 1024 + 5], ids=["small", "multipart"])
def test_sdk_upload_import_download_remove(live_server, tmp_path, size):
    data = os.urandom(size)
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    project = f"sdk files {size}"
    auth = (live_server.access_key, live_server.secret_key)

    result = _run(live_server, tmp_path, str(source), project)

    assert result["url"].startswith(live_server.files_url + "/sdk%20files")
    assert result["exists"] is True
    assert result["local_sha256"] == hashlib.sha256(data).hexdigest()
    assert result["removed"] is True
    assert result["exists_after"] is False
    gone = requests.get(result["url"], auth=auth, timeout=30)
    assert gone.status_code == 404
    model = requests.post(f"{live_server.url}/v2.23/models.get_all", json={"id": [result["model_id"]]}, auth=auth,
                          timeout=30)
    assert model.json()["data"]["models"] == []


def test_rpc_upload_is_what_the_sdk_downloads(live_server, tmp_path):
    """A file sent with models.upload is served at the model's URI, which the SDK fetches."""
    auth = (live_server.access_key, live_server.secret_key)
    data = os.urandom(3 * 1024 * 1024 + 1)
    created = requests.post(f"{live_server.url}/v2.23/models.create", json={"name": "rpc upload", "uri": "file:///x"},
                            auth=auth, timeout=30).json()["data"]
    reply = requests.post(f"{live_server.url}/v2.23/models.upload", params={"model": created["id"], "filename": "w.pt"},
                          data=data, auth=auth, timeout=60)
    assert reply.status_code == 200, reply.text
    script = tmp_path / "fetch.py"
    script.write_text(textwrap.dedent('''
        import hashlib, sys
        from clearml import Model
        local = Model(sys.argv[1]).get_local_copy()
        print("RESULT", hashlib.sha256(open(local, "rb").read()).hexdigest() if local else None)
    '''))
    proc = subprocess.run([sys.executable, str(script), created["id"]], env=live_server.sdk_env(tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert f"RESULT {hashlib.sha256(data).hexdigest()}" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    download = requests.post(f"{live_server.url}/v2.23/models.download", json={"model": created["id"]}, auth=auth,
                             timeout=60)
    assert download.status_code == 200 and download.content == data
    assert download.headers["Content-Disposition"] == 'attachment; filename="w.pt"'
