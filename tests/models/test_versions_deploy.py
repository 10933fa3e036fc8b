"""End to end against gunicorn: version numbers under concurrent creates spread over worker processes,
and the README's deployment script (resolve `champion`, download its file with plain HTTP) run as is."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
X = "2.99"


def _call(live_server, endpoint: str, data: dict, **kwargs) -> dict:
    reply = requests.post(f"{live_server.url}/api/v{X}/{endpoint}", json=data,
                          auth=(live_server.access_key, live_server.secret_key), timeout=60, **kwargs)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def _readme_script() -> str:
    section = README.read_text().split("## Versions, aliases and the model card", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_concurrent_creates_over_gunicorn_workers(live_server):
    name = "gunicorn-versions-" + os.urandom(4).hex()

    def create(_):
        return _call(live_server, "models.create", {"name": name, "uri": "s3://b/x"})["id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(create, range(20)))
    listed = _call(live_server, "models.get_versions", {"name": name, "page_size": 100})
    assert sorted(m["id"] for m in listed["models"]) == sorted(ids)
    assert sorted(m["version"] for m in listed["models"]) == list(range(1, 21))


def test_readme_deployment_script(live_server, tmp_path):
    name = "resnet50"
    weights = os.urandom(300 * 1024)
    old = _call(live_server, "models.create", {"name": name, "uri": "s3://b/old"})["id"]
    new = _call(live_server, "models.create", {"name": name, "uri": "s3://b/new"})["id"]
    requests.post(f"{live_server.url}/api/v2.13/models.upload", params={"model": new, "filename": "r.pt"},
                  data=weights, auth=(live_server.access_key, live_server.secret_key), timeout=60).raise_for_status()
    _call(live_server, "models.set_alias", {"model": old, "alias": "champion"})
    _call(live_server, "models.set_alias", {"model": new, "alias": "champion"})
    script = (_readme_script()
              .replace('"http://127.0.0.1:8008", "...", "..."',
                       f'"{live_server.url}", "{live_server.access_key}", "{live_server.secret_key}"'))
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "version" in proc.stdout and hashlib.sha256(weights).hexdigest() in proc.stdout
    assert (tmp_path / "weights.pt").read_bytes() == weights
