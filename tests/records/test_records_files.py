"""A record's file: the multipart records.add (with and without a file, cut off), upload, download
(streamed, or a 307 to the object store), delete_file, isolation, and the delete cascades."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests

from tests.files.test_files_rpc import Body, cut_at
from tests.files_support import app_with_s3, visible_objects
from tests.helpers import COMPANY_A, codes, make_user

V = "2.99"
BOUNDARY = "----modelreg-test-boundary"


def form(fields: dict, file: tuple[str, bytes, str] | None = None, file_first: bool = False) -> bytes:
    parts = []
    for name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode())
    if file is not None:
        name, data, content_type = file
        head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n").encode()
        parts.insert(0 if file_first else len(parts), head + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post_form(client, body, on_read=None):
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(len(body))}
    if client.authorization:
        headers["Authorization"] = client.authorization
    return client.test_client.simulate_request("POST", f"/v{V}/records.add", headers=headers,
                                               extras={"wsgi.input": Body(body, on_read)})


@pytest.fixture
def model(alice):
    return alice.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def add_with_file(client, model, content: bytes, name="photo.jpg", **fields) -> dict:
    result = post_form(client, form({"model": model, **fields}, (name, content, "image/jpeg")))
    assert result.status_code == 200, result.text
    return result.json["data"]["record"]


def download(client, record_id):
    return client.raw(f"/v{V}/records.download", body={"record": record_id})


def test_form_without_a_file(alice, model, s3, bucket):
    body = form({"model": model, "timestamp": "2024-05-01T00:00:00Z", "data": {"yield": [1, 2]},
                 "info": {"k": "v"}, "site": "north", "season": "2024"})
    result = post_form(alice, body)
    assert result.status_code == 200, result.text
    record = result.json["data"]["record"]
    assert (record["data"], record["info"], record["site"], record["season"]) == ({"yield": [1, 2]}, {"k": "v"},
                                                                                  "north", "2024")
    assert "file" not in record and visible_objects(s3, bucket) == []
    bad = post_form(alice, form({"model": model, "info": "not an object"}))
    assert bad.status_code == 400 and bad.json["meta"]["result_subcode"] == 12


def test_form_with_a_file_then_download(alice, model, s3, bucket):
    data = bytes(range(256)) * 5000 + b"\r\n--almost a boundary\r\n"
    record = add_with_file(alice, model, data, data={"label": "cat"})
    assert record["file"] == {"filename": "photo.jpg", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                              "content_type": "image/jpeg"}
    assert record["data"] == {"label": "cat"}
    objects = visible_objects(s3, bucket)
    assert len(objects) == 1 and objects[0].startswith(f"{COMPANY_A}/records/{model}/{record['id']}/")
    got = download(alice, record["id"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/jpeg"
    assert 'filename="photo.jpg"' in got.headers["content-disposition"]
    assert alice.ok("records.get_by_id", {"record": record["id"]}, version=V)["record"]["file"] == record["file"]


@pytest.mark.parametrize("how", ["reset", "truncated", "file_not_last"])
def test_a_broken_form_stores_nothing(alice, model, s3, bucket, how):
    data = b"x" * 300_000
    body = form({"model": model, "site": "north"}, ("photo.jpg", data, "image/jpeg"))
    if how == "reset":
        result = post_form(alice, body, cut_at(len(body) // 2))
    elif how == "truncated":
        result = post_form(alice, body[: len(body) // 2])
    else:
        result = post_form(alice, form({"model": model}, ("photo.jpg", data, "image/jpeg"), file_first=False)
                           .replace(f"--{BOUNDARY}--".encode(), form({"site": "after"})[:-len(f"--{BOUNDARY}--\r\n")]
                                    + f"--{BOUNDARY}--".encode()))
    assert result.status_code == 400, result.text
    assert alice.ok("records.get_all", {}, version=V)["records"] == []
    assert visible_objects(s3, bucket) == []


def test_upload_replaces_and_delete_file(alice, model, s3, bucket):
    record = alice.ok("records.add", {"model": model}, version=V)["record"]
    assert codes(alice.error("records.download", {"record": record["id"]}, version=V)) == (400, 1112)
    first = alice.raw(f"/v{V}/records.upload", body=b"first", query_string=f"record={record['id']}&filename=a.txt")
    assert first.status_code == 200 and first.json["data"]["file"]["size"] == 5
    second = alice.raw(f"/v{V}/records.upload", body=b"second!", query_string=f"record={record['id']}&filename=b.txt",
                       headers={"Content-Type": "text/plain"})
    assert second.json["data"]["file"]["filename"] == "b.txt"
    assert len(visible_objects(s3, bucket)) == 1  # the replaced file is gone
    got = download(alice, record["id"])
    assert got.content == b"second!" and got.headers["content-type"] == "text/plain"
    assert alice.ok("records.delete_file", {"record": record["id"]}, version=V) == {"deleted": True}
    assert visible_objects(s3, bucket) == []
    assert alice.ok("records.delete_file", {"record": record["id"]}, version=V) == {"deleted": False}
    assert "file" not in alice.ok("records.get_by_id", {"record": record["id"]}, version=V)["record"]
    bad = alice.raw(f"/v{V}/records.upload", body=b"x", query_string=f"record={record['id']}&sha256={'0' * 64}")
    assert bad.status_code == 400 and visible_objects(s3, bucket) == []


def test_download_redirects_when_the_store_is_public(app_config, registry, db, s3, bucket):
    app_config.put("s3.public_endpoint", f"http://{s3.endpoint}")
    app = app_with_s3(app_config, registry, s3, bucket=bucket)
    try:
        alice = make_user(app, "alice", COMPANY_A, role="admin")
        model = alice.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
        record = add_with_file(alice, model, b"redirected bytes", name="notes.txt")
        got = download(alice, record["id"])
        assert got.status_code == 307 and got.content == b""
        location = got.headers["location"]
        assert location.startswith(f"http://{s3.endpoint}/{bucket}/")
        fetched = requests.get(location, timeout=10)
        assert fetched.status_code == 200 and fetched.content == b"redirected bytes"
        assert "notes.txt" in fetched.headers.get("content-disposition", "")
    finally:
        app.modelreg_state.stores.db.client.close()


def test_other_company_cannot_touch_records_or_files(alice, bob, model, s3, bucket):
    record = add_with_file(alice, model, b"secret")
    rid = record["id"]
    for endpoint in ("records.download", "records.delete_file", "records.get_by_id", "records.delete"):
        assert codes(bob.error(endpoint, {"record": rid}, version=V)) == (400, 1111), endpoint
    up = bob.raw(f"/v{V}/records.upload", body=b"mine", query_string=f"record={rid}")
    assert up.status_code == 400 and up.json["meta"]["result_subcode"] == 1111
    assert bob.ok("records.delete_many", {"ids": [rid]}, version=V)["deleted"] == 0
    assert post_form(bob, form({"model": model}, ("x.bin", b"x", "application/octet-stream"))).status_code == 400
    assert len(visible_objects(s3, bucket)) == 1
    assert download(alice, rid).content == b"secret"


def test_delete_cascades_remove_files(alice, model, s3, bucket):
    ds = alice.ok("datasets.create", {"model": model, "name": "plots"}, version=V)["id"]
    one = add_with_file(alice, model, b"one")
    add_with_file(alice, model, b"two", dataset="plots")
    add_with_file(alice, model, b"three", dataset="plots")
    assert len(visible_objects(s3, bucket)) == 3
    assert alice.ok("records.delete", {"record": one["id"]}, version=V) == {"deleted": 1}
    assert len(visible_objects(s3, bucket)) == 2
    assert alice.ok("datasets.delete", {"dataset": ds, "force": True}, version=V)["deleted_records"] == 2
    assert visible_objects(s3, bucket) == []
    add_with_file(alice, model, b"four")
    alice.ok("datasets.create", {"model": model, "name": "more"}, version=V)
    assert codes(alice.error("models.delete", {"model": model}, version="2.13")) == (400, 1103)
    assert len(visible_objects(s3, bucket)) == 1
    assert alice.ok("models.delete", {"model": model, "force": True}, version="2.13")["deleted"]
    assert visible_objects(s3, bucket) == []
    assert alice.ok("records.get_all", {}, version=V)["records"] == []
    assert alice.ok("datasets.get_all", {}, version=V)["datasets"] == []


def test_listings_never_show_the_files_object_key(alice, model, s3, bucket):
    """get_all shows a record's file as records.add answered it, whether `file` is named or not, paged or
    streamed; naming the object key itself, or sorting or matching by it, is an unknown field."""
    record = add_with_file(alice, model, b"kept inside")
    assert "key" not in record["file"]
    for only_fields in (None, ["file"], ["id", "file"], ["file", "file.size"], ["-data"]):
        body = {"model": [model], **({"only_fields": only_fields} if only_fields else {})}
        assert alice.ok("records.get_all", body, version=V)["records"][0]["file"] == record["file"], only_fields
        streamed = alice.raw(f"/v{V}/records.get_all", body=body, headers={"Accept": "application/x-ndjson"})
        assert json.loads(streamed.text.splitlines()[0])["file"] == record["file"], only_fields
        scrolled = alice.ok("records.get_all", {**body, "scroll_id": None, "size": 1}, version=V)["records"]
        assert scrolled[0]["file"] == record["file"], only_fields
    for body in ({"only_fields": ["file.key"]}, {"only_fields": ["-file.key"]}, {"order_by": ["file.key"]},
                 {"_any_": {"pattern": "^", "fields": ["file.key"]}}, {"only_fields": ["file.key.x"]}):
        meta = alice.error("records.get_all", {"model": [model], **body}, version=V)
        assert codes(meta) == (400, 14) and "field=file.key" in meta["result_msg"], body
