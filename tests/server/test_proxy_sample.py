"""The sample reverse-proxy configuration (config/samples/nginx.conf) in front of a real gunicorn:
nginx from Debian's packages (./run.sh installs it), the sample as shipped but for its ports."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from server.config import ROOT
from server.process.embedded import free_port

pytestmark = pytest.mark.e2e
SAMPLE = ROOT / "config" / "samples" / "nginx.conf"


@pytest.fixture
def proxy(live_server, tmp_path: Path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is missing: ./run.sh test installs it from Debian's packages"
    upstream = live_server.url.removeprefix("http://")
    port = free_port()
    text = SAMPLE.read_text()
    text = re.sub(r"server 127\.0\.0\.1:8008\b", f"server {upstream}", text)
    text = re.sub(r"listen 8080;", f"listen 127.0.0.1:{port};", text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(url + "/debug.ping", timeout=2)
            break
        except requests.ConnectionError:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_calls_and_model_files_pass_through_the_sample_proxy(live_server, proxy):
    auth = (live_server.access_key, live_server.secret_key)
    created = requests.post(proxy + "/api/v2.13/models.create", json={"name": "via-proxy", "uri": "s3://b/x"},
                            auth=auth, timeout=30).json()
    assert created["meta"]["result_code"] == 200, created
    model = created["data"]["id"]
    body = b"w" * (3 * 1024 * 1024 + 17)
    uploaded = requests.post(proxy + "/api/v2.99/models.upload", params={"model": model, "filename": "w.bin"},
                             data=body, auth=auth, timeout=60)
    assert uploaded.status_code == 200, uploaded.text[:500]
    uploaded = uploaded.json()
    assert uploaded["meta"]["result_code"] == 200, uploaded
    downloaded = requests.post(proxy + "/api/v2.99/models.download", json={"model": model}, auth=auth,
                               timeout=60)
    assert downloaded.status_code == 200 and downloaded.content == body
    listed = requests.post(proxy + "/api/v2.13/models.get_all", json={"name": "via-proxy"}, auth=auth,
                           timeout=30).json()
    assert [m["id"] for m in listed["data"]["models"]] == [model]


def test_metrics_through_the_proxy_need_the_token(proxy):
    """A proxied request is not a loopback caller, even when the proxy runs on the API host."""
    assert requests.get(proxy + "/metrics", timeout=10).status_code in (401, 403)
    assert requests.get(proxy + "/readyz", timeout=10).json() == {"status": "ready"}
