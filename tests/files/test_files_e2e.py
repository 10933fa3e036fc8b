"""Uploads cut off by a client that goes away, over a real socket to a real gunicorn: nothing is stored
and the model is unchanged."""

from __future__ import annotations

import os
import socket
import time
from base64 import b64encode
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.e2e

MB = 1024 * 1024


def send_part_of(url: str, path: str, headers: dict, body: bytes, sent: int) -> None:
    """Sends the request line, the headers (with the full Content-Length) and `sent` bytes of the body,
    then drops the connection."""
    parts = urlsplit(url)
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode() + body[:sent])
        time.sleep(0.5)  # let the server start streaming the part to storage


def objects_under(s3, prefix: str) -> list[str]:
    return [o.object_name for o in s3.client().list_objects(s3.bucket, prefix=prefix, recursive=True)]


def wait_for_no_pending_uploads(s3, prefix: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pending = [u for u in s3.client()._list_multipart_uploads(s3.bucket).uploads
                   if u.object_name.startswith(prefix)]
        if not pending:
            return
        assert time.monotonic() < deadline, f"multipart uploads left behind: {pending}"
        time.sleep(0.5)


@pytest.fixture
def basic(live_server) -> str:
    return "Basic " + b64encode(f"{live_server.access_key}:{live_server.secret_key}".encode()).decode()


@pytest.mark.parametrize("sent_mb", [1, 40], ids=["first-part", "later-part"])
def test_models_upload_cut_off_by_the_client(live_server, s3, basic, sent_mb):
    auth = (live_server.access_key, live_server.secret_key)
    api = f"{live_server.url}/v2.23"
    model_id = requests.post(f"{api}/models.create", json={"name": "cut off", "uri": "file:///x"}, auth=auth,
                             timeout=30).json()["data"]["id"]
    first = requests.post(f"{api}/models.upload", params={"model": model_id}, data=b"version one", auth=auth,
                          timeout=30)
    assert first.status_code == 200, first.text
    before = requests.post(f"{api}/models.get_by_id", json={"model": model_id}, auth=auth, timeout=30).json()
    body = os.urandom(48 * MB)
    send_part_of(live_server.url, f"/v2.23/models.upload?model={model_id}&filename=w.bin",
                 {"Authorization": basic, "Content-Type": "application/octet-stream"}, body, sent_mb * MB)
    prefix = f"{live_server.company}/models/{model_id}/"
    wait_for_no_pending_uploads(s3, prefix)
    after = requests.post(f"{api}/models.get_by_id", json={"model": model_id}, auth=auth, timeout=30).json()
    assert after["data"] == before["data"]
    # nothing of the cut-off upload is left (the first version may live under another model's key:
    # the same content uploaded before is stored once)
    assert set(objects_under(s3, prefix)) <= {before["data"]["model"]["file"]["key"]}
    download = requests.post(f"{api}/models.download", json={"model": model_id}, auth=auth, timeout=30)
    assert download.content == b"version one"


@pytest.mark.parametrize("sent_mb", [1, 40], ids=["first-part", "later-part"])
def test_files_upload_cut_off_by_the_client(live_server, s3, basic, sent_mb):
    boundary = "cut-off-boundary"
    name = f"/cut off/{sent_mb}/w.bin"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + os.urandom(48 * MB)
    body += f"\r\n--{boundary}--\r\n".encode()
    send_part_of(live_server.url, "/files", {"Authorization": basic,
                                             "Content-Type": f"multipart/form-data; boundary={boundary}"},
                 body, sent_mb * MB)
    prefix = f"{live_server.company}/cut off/{sent_mb}/"
    wait_for_no_pending_uploads(s3, prefix)
    assert objects_under(s3, prefix) == []
    got = requests.get(f"{live_server.files_url}/cut%20off/{sent_mb}/w.bin",
                       auth=(live_server.access_key, live_server.secret_key), timeout=30)
    assert got.status_code == 404
