"""The ClearML files-server protocol under /files: uploads, downloads, ranges, deletes, auth, companies."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.files_support import PART_SIZE, visible_objects
from tests.helpers import COMPANY_A, COMPANY_B, ApiClient, codes

BOUNDARY = "modelreg-test-boundary-3f9a"



def multipart(*parts: tuple[str, bytes], content_type: str = "application/octet-stream") -> tuple[bytes, dict]:
    """The body the ClearML SDK sends: one part per file, named (and file-named) after the object path."""
    body = b""
    for name, data in parts:
        body += (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode() + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def upload(client: ApiClient, path: str, data: bytes, url: str = "/files"):
    body, headers = multipart((path, data))
    return client.raw(url, body=body, headers=headers)


@pytest.mark.parametrize("size", [0, 1, 1000, 2 * PART_SIZE + 123], ids=["empty", "one-byte", "small", "multipart"])
def test_upload_then_download_is_byte_identical(alice, size):
    data = os.urandom(size)
    result = upload(alice, "/proj/task.1/models/w.pt", data)
    assert result.status_code == 200, result.text
    assert result.json["uploaded"] == [
        {"path": "/proj/task.1/models/w.pt", "size": size, "sha256": hashlib.sha256(data).hexdigest()}
    ]
    got = alice.raw("/files/proj/task.1/models/w.pt", method="GET")
    assert got.status_code == 200
    assert got.content == data
    assert int(got.headers["Content-Length"]) == size
    assert got.headers["ETag"]
    head = alice.raw("/files/proj/task.1/models/w.pt", method="HEAD")
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == size


def test_quoted_part_names_are_served_at_their_decoded_path(alice):
    assert upload(alice, "/my%20project/t%C3%A4sk.1/models/w%201.bin", b"abc").status_code == 200
    assert alice.raw("/files/my%20project/t%C3%A4sk.1/models/w%201.bin", method="GET").content == b"abc"


def test_upload_below_a_folder_and_several_parts(alice):
    body, headers = multipart(("a.bin", b"A"), ("/sub/b.bin", b"BB"))
    result = alice.raw("/files/dir", body=body, headers=headers)
    assert result.status_code == 200, result.text
    assert [f["path"] for f in result.json["uploaded"]] == ["/dir/a.bin", "/dir/sub/b.bin"]
    assert alice.raw("/files/dir/sub/b.bin", method="GET").content == b"BB"


def test_upload_replaces_the_object(alice):
    upload(alice, "/x/w.bin", b"old")
    upload(alice, "/x/w.bin", b"new content")
    assert alice.raw("/files/x/w.bin", method="GET").content == b"new content"


@pytest.mark.parametrize(
    "header, status, expected, content_range",
    [
        ("bytes=0-9", 206, slice(0, 10), "bytes 0-9/100"),
        ("bytes=90-", 206, slice(90, 100), "bytes 90-99/100"),
        ("bytes=95-500", 206, slice(95, 100), "bytes 95-99/100"),
        ("bytes=-7", 206, slice(93, 100), "bytes 93-99/100"),
        ("bytes=5-2", 200, slice(0, 100), None),  # invalid: ignored
        ("bytes=0-1,5-6", 200, slice(0, 100), None),  # several ranges: ignored
    ],
)
def test_range_reads(alice, header, status, expected, content_range):
    data = bytes(range(100))
    upload(alice, "/r/data.bin", data)
    got = alice.raw("/files/r/data.bin", method="GET", headers={"Range": header})
    assert got.status_code == status
    assert got.content == data[expected]
    assert int(got.headers["Content-Length"]) == len(data[expected])
    assert got.headers.get("Content-Range") == content_range


def test_a_range_beyond_the_end_is_416(alice):
    upload(alice, "/r/data.bin", b"0123456789")
    got = alice.raw("/files/r/data.bin", method="GET", headers={"Range": "bytes=10-"})
    assert got.status_code == 416
    assert got.headers["Content-Range"] == "bytes */10"
    assert got.json["meta"]["result_code"] == 416


def test_range_read_across_parts(alice):
    data = os.urandom(PART_SIZE + 4096)
    upload(alice, "/r/big.bin", data)
    first = PART_SIZE - 10
    got = alice.raw("/files/r/big.bin", method="GET", headers={"Range": f"bytes={first}-{first + 99}"})
    assert got.status_code == 206
    assert got.content == data[first:first + 100]


def test_missing_file_is_404_envelope(alice):
    for method in ("GET", "HEAD"):
        got = alice.raw("/files/no/such.bin", method=method)
        assert got.status_code == 404
    meta = alice.raw("/files/no/such.bin", method="GET").json["meta"]
    assert codes(meta) == (404, 1)


def test_delete_removes_the_file_and_is_idempotent(alice, s3, bucket):
    upload(alice, "/d/w.bin", b"data")
    result = alice.raw("/files/d/w.bin", method="DELETE", headers={"Content-Length": "0"})
    assert result.status_code == 200 and result.json == {"deleted": True}
    assert alice.raw("/files/d/w.bin", method="GET").status_code == 404
    again = alice.raw("/files/d/w.bin", method="DELETE")
    assert again.status_code == 200 and again.json == {"deleted": False}
    assert visible_objects(s3, bucket) == []


def test_companies_cannot_see_or_delete_each_others_files(alice, bob, s3, bucket):
    upload(alice, "/shared/name.bin", b"alice's")
    for method in ("GET", "HEAD"):
        assert bob.raw("/files/shared/name.bin", method=method).status_code == 404
    assert bob.raw("/files/shared/name.bin", method="DELETE").json == {"deleted": False}
    assert alice.raw("/files/shared/name.bin", method="GET").content == b"alice's"
    # the same path in another company is another object
    upload(bob, "/shared/name.bin", b"bob's")
    assert bob.raw("/files/shared/name.bin", method="GET").content == b"bob's"
    assert alice.raw("/files/shared/name.bin", method="GET").content == b"alice's"
    # one object under each company (content-addressed: named by the store, not by the path)
    assert [key.split("/", 1)[0] for key in visible_objects(s3, bucket)] == [COMPANY_A, COMPANY_B]


@pytest.mark.parametrize("path", ["/files/../company_b/x", "/files/a/%2E%2E/%2E%2E/x", "/files/a/./b"])
def test_dot_segments_are_refused(alice, path):
    got = alice.raw(path, method="GET")
    assert got.status_code in (400, 404)
    if got.status_code == 400:
        assert codes(got.json["meta"]) == (400, 0)


def test_dot_segments_in_a_part_name_are_refused(alice, s3, bucket):
    result = upload(alice, "/../../other/x.bin", b"x")
    assert result.status_code == 400
    assert visible_objects(s3, bucket) == []


def test_credentials_are_required(files_app, alice):
    anon = ApiClient(files_app)
    upload(alice, "/a/b.bin", b"x")
    for method in ("GET", "DELETE", "POST"):
        result = anon.raw("/files/a/b.bin", method=method)
        assert result.status_code == 401
        assert codes(result.json["meta"]) == (401, 20)
    bad = ApiClient(files_app, "Bearer not-a-token")
    assert bad.raw("/files/a/b.bin", method="GET").status_code == 401


def test_bearer_token_from_login_works(files_app, alice):
    token = alice.ok("auth.login")["token"]
    bearer = ApiClient(files_app, f"Bearer {token}")
    assert upload(bearer, "/tok/w.bin", b"by token").status_code == 200
    assert alice.raw("/files/tok/w.bin", method="GET").content == b"by token"


def test_a_body_cut_off_mid_part_stores_nothing(alice, s3, bucket):
    body, headers = multipart(("/cut/w.bin", os.urandom(PART_SIZE + 1000)))
    cut = body[: PART_SIZE + 500]  # no closing delimiter: the client went away
    result = alice.raw("/files", body=cut, headers=headers)
    assert result.status_code == 400
    assert "multipart" in result.json["meta"]["result_msg"]
    assert visible_objects(s3, bucket) == []


def test_not_multipart_is_400(alice):
    result = alice.raw("/files/a.bin", body=b"raw", headers={"Content-Type": "application/octet-stream"})
    assert result.status_code == 400
    empty = alice.raw("/files", body=f"--{BOUNDARY}--\r\n", headers=multipart()[1])
    assert empty.status_code == 400


def test_a_part_naming_no_file_is_refused(alice):
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nbytes\r\n--{BOUNDARY}--\r\n").encode()
    result = alice.raw("/files/m", body=body, headers=multipart()[1])
    assert result.status_code == 400 and "names no file" in result.json["meta"]["result_msg"]
    assert alice.raw("/files/m", method="GET").status_code == 404


def test_a_served_file_is_inert_on_the_apis_origin(alice):
    """An HTML page a user uploaded, opened by a signed-in user, must not run as that user's session."""
    body, headers = multipart(("/pages/report.html", b"<script>fetch('/api/v2.99/auth.create_credentials')</script>"),
                              content_type="text/html")
    assert alice.raw("/files", body=body, headers=headers).status_code == 200
    for method in ("GET", "HEAD"):
        served = alice.raw("/files/pages/report.html", method=method)
        assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"].split()[0] == "sandbox"
        assert "allow-same-origin" not in served.headers["content-security-policy"]


def test_an_error_after_stored_parts_names_them(alice):
    """Parts are stored whole as they arrive: a later part that fails leaves the earlier ones, and says so."""
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kept/a.bin\"; filename=\"a.bin\"\r\n\r\n"
            f"first\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"../evil\"\r\n\r\nx\r\n"
            f"--{BOUNDARY}--\r\n").encode()
    result = alice.raw("/files", body=body, headers=multipart()[1])
    assert result.status_code == 400 and "stored_before_the_error=(/kept/a.bin)" in result.json["meta"]["result_msg"]
    assert alice.raw("/files/kept/a.bin", method="GET").content == b"first"
