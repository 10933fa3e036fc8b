"""Stored files are on record by uri, size and sha256, never by contents, through the /files route too."""

from __future__ import annotations

import hashlib

from tests.files.test_files_route import upload

V = "2.99"


def test_files_route_uploads_and_deletes_are_on_record(files_app, alice):
    data = b"weights of a model " * 10
    cursor = alice.ok("changes.get_since", {}, version=V)["cursor"]
    assert upload(alice, "proj/t.1/models/w.bin", data).status_code == 200
    assert alice.raw("/files/proj/t.1/models/w.bin", method="DELETE").status_code == 200
    entries = alice.ok("changes.get_since", {"cursor": cursor}, version=V)["entries"]
    assert [(e["kind"], e["endpoint"]) for e in entries] == [("file.uploaded", "files.POST"),
                                                              ("file.deleted", "files.DELETE")]
    uploaded, deleted = entries
    assert uploaded["target"]["type"] == "file" and uploaded["target"]["id"].endswith("proj/t.1/models/w.bin")
    assert uploaded["changes"]["after"] == {"uri": uploaded["target"]["id"], "size": len(data),
                                            "sha256": hashlib.sha256(data).hexdigest()}
    assert deleted["target"]["id"] == uploaded["target"]["id"] and deleted["changes"]["after"] is None
    assert data.decode() not in str(entries)
    assert uploaded["user"] == alice.identity["user"]


def test_a_model_upload_records_the_file_the_content_and_the_model(files_app, alice):
    model = alice.ok("models.create", {"name": "m-file", "uri": "s3://b/x"}, version="2.13")["id"]
    cursor = alice.ok("changes.get_since", {}, version=V)["cursor"]
    reply = alice.raw("/v2.13/models.upload", body=b"abc", query_string=f"model={model}&filename=w.bin")
    assert reply.status_code == 200
    entries = alice.ok("changes.get_since", {"cursor": cursor}, version=V)["entries"]
    kinds = {e["kind"]: e for e in entries}
    # the stored content's record (its reference count) is a change too
    assert set(kinds) == {"file.uploaded", "model.file_uploaded", "content.created"}
    assert kinds["content.created"]["target"]["type"] == "content"
    assert kinds["file.uploaded"]["changes"]["after"]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert kinds["model.file_uploaded"]["target"]["id"] == model
