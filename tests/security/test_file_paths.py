"""/files paths are checked before they reach object storage: `..`, backslashes and control characters
are a 400 with the ClearML envelope, never a 500 (`GET /files/..\\x` once answered 500/2)."""

from __future__ import annotations

import pytest

from tests.files.test_files_route import upload
from tests.files_support import visible_objects
from tests.helpers import codes

BAD_PATHS = ["/files/..\\x", "/files/a\\b.bin", "/files/a/%5C../b", "/files/a/%2e%2e/b", "/files/a/../b",
             "/files/./a", "/files/a%00b", "/files/a%1fb", "/files/a%7fb"]


@pytest.mark.parametrize("path", BAD_PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_bad_paths_are_400(alice, method, path):
    reply = alice.raw(path, method=method)
    assert reply.status_code == 400, reply.text
    if method != "HEAD":
        assert codes(reply.json["meta"]) == (400, 0) and "invalid file path" in reply.json["meta"]["result_msg"]


@pytest.mark.parametrize("name", ["..\\x", "/a/..\\..\\b", "/a/b\\c.bin", "/a/\x01.bin", "/../x"])
def test_bad_upload_names_are_400_and_store_nothing(alice, s3, bucket, name):
    reply = upload(alice, name, b"data")
    assert reply.status_code == 400, reply.text
    assert visible_objects(s3, bucket) == []


def test_good_paths_still_work(alice):
    assert upload(alice, "/a/b..c/d.bin", b"ok").status_code == 200
    assert alice.raw("/files/a/b..c/d.bin", method="GET").content == b"ok"
