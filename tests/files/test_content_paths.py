"""Files the ClearML SDK sends to /files are content-addressed: identical bytes are one object per company,
paths hold references, overwrites and deletes give them back, and paths written before keep working."""

from __future__ import annotations

import base64
import hashlib
import io
import os

from tests.files.test_files_route import upload
from tests.files_support import PART_SIZE, visible_objects
from tests.helpers import COMPANY_A, codes


def _get(client, path: str, **headers):
    return client.raw(f"/files/{path}", method="GET", headers=headers or None)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_same_bytes_at_two_paths_are_stored_once(alice, s3, bucket):
    data = os.urandom(PART_SIZE + 777)  # a multipart body, hashed while it streams
    for path in ("/p/t.1/models/a.pt", "/p/t.2/models/b.pt"):
        reply = upload(alice, path, data)
        assert reply.status_code == 200, reply.text
        assert reply.json["uploaded"] == [{"path": path, "size": len(data), "sha256": _sha(data)}]
    assert len(visible_objects(s3, bucket)) == 1
    for path in ("p/t.1/models/a.pt", "p/t.2/models/b.pt"):
        got = _get(alice, path)
        assert got.status_code == 200 and got.content == data
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert got.headers["ETag"] == f'"{_sha(data)}"'
        assert got.headers["Digest"] == f"sha-256={digest}" and got.headers["Repr-Digest"] == f"sha-256=:{digest}:"


def test_deleting_one_path_keeps_the_other_and_the_last_removes_the_bytes(alice, s3, bucket):
    data = b"shared weights " * 100
    upload(alice, "/a/w.bin", data)
    upload(alice, "/b/w.bin", data)
    assert alice.raw("/files/a/w.bin", method="DELETE").json == {"deleted": True}
    assert _get(alice, "a/w.bin").status_code == 404
    assert _get(alice, "b/w.bin").content == data
    assert len(visible_objects(s3, bucket)) == 1
    assert alice.raw("/files/b/w.bin", method="DELETE").json == {"deleted": True}
    assert alice.raw("/files/b/w.bin", method="DELETE").json == {"deleted": False}
    assert visible_objects(s3, bucket) == []


def test_overwriting_a_path_moves_it_to_the_new_content(alice, s3, bucket):
    first, second = b"first version", b"second version, longer"
    upload(alice, "/o/w.bin", first)
    upload(alice, "/keep/w.bin", second)
    upload(alice, "/o/w.bin", second)  # the company holds these bytes already: nothing stored again
    assert _get(alice, "o/w.bin").content == second
    assert _get(alice, "o/w.bin").headers["ETag"] == f'"{_sha(second)}"'
    assert len(visible_objects(s3, bucket)) == 1  # the first version lost its only reference
    upload(alice, "/o/w.bin", second)  # the same bytes again: the reference count stays right
    assert alice.raw("/files/keep/w.bin", method="DELETE").json == {"deleted": True}
    assert _get(alice, "o/w.bin").content == second
    alice.raw("/files/o/w.bin", method="DELETE")
    assert visible_objects(s3, bucket) == []


def test_ranges_and_head_through_the_path(alice):
    data = os.urandom(5000)
    upload(alice, "/r/w.bin", data)
    got = _get(alice, "r/w.bin", Range="bytes=100-199")
    assert got.status_code == 206 and got.content == data[100:200]
    assert got.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert _get(alice, "r/w.bin", Range="bytes=-10").content == data[-10:]
    head = alice.raw("/files/r/w.bin", method="HEAD")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    assert head.headers["ETag"] == f'"{_sha(data)}"'
    assert head.headers["Content-Type"] == "application/octet-stream"  # as the SDK sent it
    assert codes(_get(alice, "r/w.bin", Range="bytes=9000-").json["meta"]) == (416, 0)


def test_a_path_written_before_content_addressing_keeps_working(alice, s3, bucket):
    data = os.urandom(3000)
    legacy = f"{COMPANY_A}/old/t.1/w.bin"
    s3.client().put_object(bucket, legacy, io.BytesIO(data), len(data))
    got = _get(alice, "old/t.1/w.bin")
    assert got.status_code == 200 and got.content == data and got.headers["ETag"]
    assert _get(alice, "old/t.1/w.bin", Range="bytes=0-9").content == data[:10]
    assert alice.raw("/files/old/t.1/w.bin", method="HEAD").status_code == 200
    # overwritten: the path moves to content, and its old object goes
    upload(alice, "/old/t.1/w.bin", b"new bytes")
    assert _get(alice, "old/t.1/w.bin").content == b"new bytes"
    assert legacy not in visible_objects(s3, bucket) and len(visible_objects(s3, bucket)) == 1
    # deleted without ever being overwritten: the old object goes
    s3.client().put_object(bucket, f"{COMPANY_A}/old/other.bin", io.BytesIO(data), len(data))
    assert alice.raw("/files/old/other.bin", method="DELETE").json == {"deleted": True}
    assert f"{COMPANY_A}/old/other.bin" not in visible_objects(s3, bucket)


def test_identical_bytes_of_two_companies_are_not_shared(alice, bob, s3, bucket):
    data = b"the same bytes in two companies"
    upload(alice, "/x/w.bin", data)
    upload(bob, "/x/w.bin", data)
    assert len(visible_objects(s3, bucket)) == 2
    assert bob.raw("/files/x/w.bin", method="DELETE").json == {"deleted": True}
    assert _get(alice, "x/w.bin").content == data
    assert _get(bob, "x/w.bin").status_code == 404


def test_a_path_shares_the_content_of_a_model_upload(alice, s3, bucket):
    data = b"weights uploaded through models.upload"
    model = alice.ok("models.create", {"name": "m-shared", "uri": "s3://b/x"}, version="2.13")["id"]
    reply = alice.raw("/v2.13/models.upload", body=data, query_string=f"model={model}&filename=w.bin")
    assert reply.status_code == 200, reply.text
    upload(alice, "/sdk/w.bin", data)
    assert len(visible_objects(s3, bucket)) == 1
    alice.ok("models.delete", {"model": model}, version="2.13")  # the path still holds a reference
    assert _get(alice, "sdk/w.bin").content == data
    alice.raw("/files/sdk/w.bin", method="DELETE")
    assert visible_objects(s3, bucket) == []


def test_the_content_folder_cannot_be_written_by_path(alice, s3, bucket):
    reply = upload(alice, f"/sha256/{_sha(b'x')}", b"not x")
    assert reply.status_code == 400 and "sha256" in reply.json["meta"]["result_msg"]
    assert visible_objects(s3, bucket) == []
