"""models.upload / download / get_download_url / delete_file, and model deletes removing stored files."""

from __future__ import annotations

import hashlib
import io
import os
from urllib.parse import urlsplit

import pytest
import requests

from tests.files_support import PART_SIZE, app_with_s3, start_private_s3, visible_objects
from tests.helpers import COMPANY_A, ApiClient, codes, make_user

V = "2.13"


class Body(io.RawIOBase):
    """wsgi.input as gunicorn gives it (a read returns all it is asked for, unless the body ends);
    calls `on_read(position)` before each read, which may raise (the client went away)."""

    def __init__(self, data: bytes, on_read=None):
        self.data, self.pos, self.on_read = data, 0, on_read

    def readable(self):
        return True

    def read(self, size=-1):
        if self.on_read is not None:
            self.on_read(self.pos)
        size = len(self.data) - self.pos if size is None or size < 0 else size
        piece = self.data[self.pos:self.pos + size]
        self.pos += len(piece)
        return piece


def cut_at(position: int):
    def on_read(pos):
        if pos >= position:
            raise ConnectionResetError("client went away")
    return on_read


def new_model(client: ApiClient, **fields) -> str:
    return client.ok("models.create", {"name": "weights model", "uri": "file:///tmp/w.pt", **fields}, version=V)["id"]


def get_model(client: ApiClient, model_id: str) -> dict:
    return client.ok("models.get_by_id", {"model": model_id}, version=V)["model"]


def upload(client: ApiClient, model_id: str, data, query: str = "", headers: dict | None = None, length=None):
    query_string = f"model={model_id}" + (f"&{query}" if query else "")
    if isinstance(data, bytes):
        return client.raw(f"/v{V}/models.upload", body=data, query_string=query_string, headers=headers)
    hdrs = {"Content-Length": str(length)}
    if client.authorization:
        hdrs["Authorization"] = client.authorization
    hdrs.update(headers or {})
    return client.test_client.simulate_request(
        "POST", f"/v{V}/models.upload", query_string=query_string, headers=hdrs, extras={"wsgi.input": data},
    )


def download(client: ApiClient, model_id: str):
    return client.raw(f"/v{V}/models.download", body={"model": model_id})


def files_path(uri: str) -> str:
    return urlsplit(uri).path


@pytest.mark.parametrize("size", [0, 1000, 2 * PART_SIZE + 77], ids=["empty", "small", "multipart"])
def test_upload_download_round_trip(alice, size):
    model_id = new_model(alice)
    data = os.urandom(size)
    result = upload(alice, model_id, data, "filename=best.pt&content_type=application/x-pytorch")
    assert result.status_code == 200, result.text
    reply = result.json["data"]
    digest = hashlib.sha256(data).hexdigest()
    assert reply["model"] == model_id and reply["size"] == size and reply["sha256"] == digest
    assert reply["uri"].startswith("http://falconframework.org/files/models/") and reply["uri"].endswith("/best.pt")
    model = get_model(alice, model_id)
    assert model["uri"] == reply["uri"]
    assert {k: model["file"][k] for k in ("size", "sha256", "content_type", "stored", "filename")} == {
        "size": size, "sha256": digest, "content_type": "application/x-pytorch", "stored": True, "filename": "best.pt",
    }
    got = download(alice, model_id)
    assert got.status_code == 200
    assert got.content == data
    assert int(got.headers["Content-Length"]) == size
    assert got.headers["Content-Type"] == "application/x-pytorch"
    assert got.headers["Content-Disposition"] == 'attachment; filename="best.pt"'
    # the URI is served by the files route too (what the ClearML SDK's get_local_copy fetches)
    assert alice.raw(files_path(reply["uri"]), method="GET").content == data


def test_upload_with_the_right_sha256(alice):
    model_id = new_model(alice)
    data = os.urandom(5000)
    result = upload(alice, model_id, data, f"sha256={hashlib.sha256(data).hexdigest()}")
    assert result.status_code == 200, result.text


def test_the_uri_names_the_public_host(alice):
    model_id = new_model(alice)
    result = upload(alice, model_id, b"abc", headers={"Host": "models.example.com:8008"})
    assert result.json["data"]["uri"].startswith("http://models.example.com:8008/files/models/")
    forwarded = upload(alice, model_id, b"abc", headers={"X-Forwarded-Host": "reg.example.com",
                                                            "X-Forwarded-Proto": "https"})
    assert forwarded.json["data"]["uri"].startswith("https://reg.example.com/files/models/")


def test_a_wrong_sha256_is_refused_and_changes_nothing(alice, s3, bucket):
    model_id = new_model(alice)
    before = get_model(alice, model_id)
    result = upload(alice, model_id, os.urandom(PART_SIZE + 10), "sha256=" + "ab" * 32)
    assert result.status_code == 400
    assert codes(result.json["meta"]) == (400, 1002)
    assert "sha256 mismatch" in result.json["meta"]["result_msg"]
    assert get_model(alice, model_id) == before
    assert visible_objects(s3, bucket) == []


@pytest.mark.parametrize("size", [1000, 2 * PART_SIZE + 1], ids=["small", "multipart"])
def test_a_body_shorter_than_its_content_length_is_refused(alice, s3, bucket, size):
    model_id = new_model(alice)
    before = get_model(alice, model_id)
    result = upload(alice, model_id, Body(os.urandom(size)), length=size + 100)
    assert codes(result.json["meta"]) == (400, 1002)
    assert "ended before its declared length" in result.json["meta"]["result_msg"]
    assert get_model(alice, model_id) == before
    assert visible_objects(s3, bucket) == []


@pytest.mark.parametrize("cut", [1000, PART_SIZE + 1000], ids=["first-part", "second-part"])
def test_an_upload_cut_off_mid_body_changes_nothing(alice, s3, bucket, cut):
    model_id = new_model(alice)
    upload(alice, model_id, b"the first version")
    before = get_model(alice, model_id)
    size = 3 * PART_SIZE
    result = upload(alice, model_id, Body(os.urandom(size), cut_at(cut)), length=size)
    assert codes(result.json["meta"]) == (400, 0)
    assert "could not be read" in result.json["meta"]["result_msg"]
    assert get_model(alice, model_id) == before
    assert visible_objects(s3, bucket) == [before["file"]["key"]]
    assert download(alice, model_id).content == b"the first version"


def test_a_new_upload_replaces_and_deletes_the_old_file(alice, s3, bucket):
    model_id = new_model(alice)
    first = upload(alice, model_id, b"one").json["data"]
    second = upload(alice, model_id, b"two!").json["data"]
    assert first["uri"] != second["uri"]
    assert download(alice, model_id).content == b"two!"
    assert visible_objects(s3, bucket) == [get_model(alice, model_id)["file"]["key"]]
    assert alice.raw(files_path(first["uri"]), method="GET").status_code == 404


def test_only_own_models_take_uploads(alice, bob):
    model_id = new_model(alice)
    result = upload(bob, model_id, b"intruder")
    assert codes(result.json["meta"]) == (400, 201)
    assert codes(bob.error("models.download", {"model": model_id}, version=V)) == (400, 201)
    assert codes(bob.error("models.get_download_url", {"model": model_id}, version=V)) == (400, 201)
    assert codes(bob.error("models.delete_file", {"model": model_id}, version=V)) == (400, 201)


def test_a_public_models_file_is_readable_by_everyone(alice, bob):
    model_id = new_model(alice)
    upload(alice, model_id, b"shared weights", "filename=w.bin")
    alice.ok("models.make_public", {"ids": [model_id]}, version=V)
    assert download(bob, model_id).content == b"shared weights"
    url = bob.ok("models.get_download_url", {"model": model_id}, version=V)["url"]
    assert requests.get(url, timeout=10).content == b"shared weights"


def test_published_models_take_uploads_like_edits(alice):
    model_id = new_model(alice)  # models.create registers published models unless told otherwise
    assert get_model(alice, model_id)["ready"] is True
    upload(alice, model_id, b"final")
    assert download(alice, model_id).content == b"final"


def test_upload_needs_a_model(alice):
    result = upload(alice, "no-such-model", b"x")
    assert codes(result.json["meta"]) == (400, 201)
    missing = alice.raw(f"/v{V}/models.upload", body=b"x")
    assert codes(missing.json["meta"]) == (400, 12)


def test_get_download_url_is_fetchable_with_plain_requests(alice):
    model_id = new_model(alice)
    data = os.urandom(PART_SIZE + 5)
    upload(alice, model_id, data, "filename=model%20v1.pt")
    reply = alice.ok("models.get_download_url", {"model": model_id}, version=V)
    assert reply["expires_in"] == 600
    got = requests.get(reply["url"], timeout=30)
    assert got.status_code == 200 and got.content == data
    assert 'filename="model v1.pt"' in got.headers["Content-Disposition"]


def test_models_without_a_stored_file(alice):
    model_id = new_model(alice, uri="s3://elsewhere/w.pt")
    assert codes(alice.error("models.download", {"model": model_id}, version=V)) == (400, 1001)
    assert codes(alice.error("models.get_download_url", {"model": model_id}, version=V)) == (400, 1001)
    assert alice.ok("models.delete_file", {"model": model_id}, version=V) == {"deleted": False}
    assert get_model(alice, model_id)["uri"] == "s3://elsewhere/w.pt"


def test_a_file_removed_behind_the_models_back_is_404(alice, s3, bucket):
    model_id = new_model(alice)
    uri = upload(alice, model_id, b"bytes").json["data"]["uri"]
    # content a model references is not deleted by its /files path (other models may share it)
    assert alice.raw(files_path(uri), method="DELETE").json == {"deleted": False}
    assert download(alice, model_id).content == b"bytes"
    (key,) = visible_objects(s3, bucket)
    s3.client().remove_object(bucket, key)  # gone from the store behind the server's back
    meta = alice.error("models.download", {"model": model_id}, version=V)
    assert codes(meta) == (404, 1) and COMPANY_A not in meta["result_msg"]
    assert codes(alice.error("models.get_download_url", {"model": model_id}, version=V)) == (404, 1)


def test_delete_file_keeps_the_model(alice, s3, bucket):
    model_id = new_model(alice)
    upload(alice, model_id, b"bytes")
    assert alice.ok("models.delete_file", {"model": model_id}, version=V) == {"deleted": True}
    model = get_model(alice, model_id)
    assert model["uri"] == "" and "file" not in model
    assert visible_objects(s3, bucket) == []
    assert codes(alice.error("models.download", {"model": model_id}, version=V)) == (400, 1001)
    assert alice.ok("models.delete_file", {"model": model_id}, version=V) == {"deleted": False}


def test_deleting_a_model_deletes_its_uploaded_file(alice, s3, bucket):
    model_id = new_model(alice)
    upload(alice, model_id, b"bytes")
    alice.ok("models.delete", {"model": model_id}, version=V)
    assert visible_objects(s3, bucket) == []


def test_deleting_a_model_can_keep_its_file(alice, s3, bucket):
    model_id = new_model(alice)
    upload(alice, model_id, b"bytes")
    alice.ok("models.delete", {"model": model_id, "delete_external_artifacts": False}, version=V)
    assert len(visible_objects(s3, bucket)) == 1


def test_deleting_a_model_deletes_a_file_the_sdk_uploaded(alice, s3, bucket):
    body = (b"--b0\r\nContent-Disposition: form-data; name=\"/p/t.1/models/w.pt\"; filename=\"/p/t.1/models/w.pt\""
            b"\r\n\r\nsdk bytes\r\n--b0--\r\n")
    alice.raw("/files", body=body, headers={"Content-Type": "multipart/form-data; boundary=b0"})
    uri = "http://127.0.0.1:8008/files/p/t.1/models/w.pt"
    kept, dropped = new_model(alice, uri=uri), new_model(alice, uri=uri)
    assert download(alice, kept).content == b"sdk bytes"  # served through the RPC too
    alice.ok("models.delete_many", {"ids": [dropped]}, version=V)
    assert len(visible_objects(s3, bucket)) == 1  # still used by `kept`
    assert download(alice, kept).content == b"sdk bytes"
    alice.ok("models.delete", {"model": kept}, version=V)
    assert visible_objects(s3, bucket) == []


def test_deleting_a_task_deletes_its_draft_models_files(alice, s3, bucket):
    task_id = alice.ok("tasks.create", {"name": "training", "type": "training"}, version=V)["id"]
    model_id = new_model(alice, task=task_id, ready=False)
    upload(alice, model_id, b"draft weights")
    alice.ok("tasks.delete", {"task": task_id, "force": True}, version=V)
    assert visible_objects(s3, bucket) == []


def test_storage_lost_mid_upload_gives_a_clean_error_and_no_half_updated_model(
        app_config, registry, db, tmp_path):
    private = start_private_s3(tmp_path)
    try:
        app = app_with_s3(app_config, registry, private)
        alice = make_user(app, "alice", COMPANY_A, role="admin")
        model_id = new_model(alice)
        upload(alice, model_id, b"first version")
        before = get_model(alice, model_id)

        def kill_storage(position):
            if position >= PART_SIZE + 100:
                private.kill()

        size = 3 * PART_SIZE
        result = upload(alice, model_id, Body(os.urandom(size), kill_storage), length=size)
        # 503 with Retry-After: the store is away for now (it was once a 500/2)
        assert result.status_code == 503 and result.headers.get("Retry-After")
        assert codes(result.json["meta"]) == (503, 2)
        assert result.json["meta"]["result_msg"] == "Object storage is unavailable"
        assert get_model(alice, model_id) == before
        meta = alice.error("models.download", {"model": model_id}, version=V)
        assert codes(meta) == (503, 2)
        files_reply = alice.raw(files_path(before["uri"]), method="GET")
        assert codes(files_reply.json["meta"]) == (503, 2) and files_reply.headers.get("Retry-After")
        # deleting the model still works; the leftover object is only logged
        alice.ok("models.delete", {"model": model_id}, version=V)
    finally:
        private.kill()
