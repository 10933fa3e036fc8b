"""Resumable uploads through the dispatcher: parts in any order, verification of parts and of the whole
file, completes racing, other companies' sessions, expiry, content addressing and reference counts."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from database.storage import multipart
from services.uploads import sweep
from tests.files_support import visible_objects
from tests.helpers import COMPANY_A, make_user
from tests.uploads.session_calls import MIB, PART, V
from tests.uploads.session_calls import download as _download
from tests.uploads.session_calls import model as _model
from tests.uploads.session_calls import parts as _parts
from tests.uploads.session_calls import put as _put
from tests.uploads.session_calls import start as _start


def _data(size: int = 2 * PART + 1234) -> bytes:
    return os.urandom(size)


def test_parts_out_of_order_complete_into_the_models_weights(alice, s3, bucket):
    data = _data()
    session = _start(alice, data)
    assert session["status"] == "open" and session["part_count"] == 3 and session["part_size"] == PART
    assert "{part}" in session["part_url"]
    for number in (3, 1, 2):
        reply = _put(alice, session["upload"], number, _parts(data)[number])
        assert reply.status_code == 200, reply.text
    status = alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)
    assert status["parts"] == [1, 2, 3]
    model = _model(alice)
    sha = hashlib.sha256(data).hexdigest()
    done = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": sha, "model": model}, version=V)
    assert done["file"]["sha256"] == sha and done["file"]["size"] == len(data)
    assert done["reread_parts"] == 1  # 1 and 2 were hashed on the way; 3 arrived before them
    assert _download(alice, model) == data
    assert visible_objects(s3, bucket) == [f"{COMPANY_A}/sha256/{sha}"]


def test_parts_in_order_are_never_read_back(alice):
    data = _data()
    session = _start(alice, data, announce=False)
    for number, body in _parts(data).items():
        assert _put(alice, session["upload"], number, body).status_code == 200
    done = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest()},
                    version=V)
    assert done["reread_parts"] == 0


def test_a_part_with_the_wrong_hash_or_length_is_refused_and_not_recorded(alice):
    data = _data()
    session = _start(alice, data)
    wrong = alice.raw(f"/v{V}/uploads.put_part", body=_parts(data)[1], method="PUT",
                      query_string=f"upload={session['upload']}&part=1&sha256={'a' * 64}")
    assert wrong.status_code == 400 and wrong.json["meta"]["result_subcode"] == 1002
    short = _put(alice, session["upload"], 2, _parts(data)[2][:-1])
    assert short.status_code == 400 and "part" in short.json["meta"]["result_msg"]
    beyond = _put(alice, session["upload"], 4, b"x")
    assert beyond.status_code == 400 and "part" in beyond.json["meta"]["result_msg"]
    assert alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)["parts"] == []
    good = _put(alice, session["upload"], 1, _parts(data)[1], hashlib.sha256(_parts(data)[1]).hexdigest())
    assert good.status_code == 200, good.text


def test_a_wrong_whole_sha256_fails_the_session_and_stores_nothing(alice, s3, bucket):
    data = _data()
    session = _start(alice, data, announce=False)
    for number, body in _parts(data).items():
        assert _put(alice, session["upload"], number, body).status_code == 200
    missing = alice.error("uploads.complete", {"upload": session["upload"], "sha256": "1" * 64}, version=V)
    assert missing["result_subcode"] == 1002
    assert alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)["status"] == "failed"
    assert visible_objects(s3, bucket) == []
    # announced at start: a complete naming another sha256 is refused before anything is joined
    announced = _start(alice, data)
    refused = alice.error("uploads.complete", {"upload": announced["upload"], "sha256": "2" * 64}, version=V)
    assert refused["result_subcode"] == 1002 and "sha256" in refused["result_msg"]


def test_complete_with_parts_missing_names_them_and_the_session_stays_open(alice):
    data = _data()
    session = _start(alice, data)
    assert _put(alice, session["upload"], 2, _parts(data)[2]).status_code == 200
    meta = alice.error("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest()},
                       version=V)
    assert meta["result_subcode"] == 1403 and "missing=(1, 3)" in meta["result_msg"]
    assert alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)["status"] == "open"


def test_two_completes_at_once_one_joins_the_other_gets_the_same_file_or_busy(alice):
    data = _data()
    session = _start(alice, data)
    for number, body in _parts(data).items():
        assert _put(alice, session["upload"], number, body).status_code == 200
    sha = hashlib.sha256(data).hexdigest()
    replies = []

    def complete():
        replies.append(alice.call("uploads.complete", {"upload": session["upload"], "sha256": sha}, version=V))

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = [r.json["data"] for r in replies if r.status_code == 200]
    busy = [r.json["meta"] for r in replies if r.status_code != 200]
    assert ok and all(d["file"] == ok[0]["file"] for d in ok)
    assert all(m["result_subcode"] == 1404 for m in busy)
    again = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": sha}, version=V)
    assert again["file"] == ok[0]["file"]


def test_another_companys_session_and_content_are_not_found(alice, bob):
    data = _data(PART)
    session = _start(alice, data)
    assert _put(alice, session["upload"], 1, data).status_code == 200
    for endpoint, body in (("uploads.get_status", {}), ("uploads.abort", {}),
                           ("uploads.complete", {"sha256": hashlib.sha256(data).hexdigest()})):
        meta = bob.error(endpoint, {"upload": session["upload"], **body}, version=V)
        assert meta["result_subcode"] == 1401, endpoint
    assert _put(bob, session["upload"], 1, data).json["meta"]["result_subcode"] == 1401
    sha = hashlib.sha256(data).hexdigest()
    alice.ok("uploads.complete", {"upload": session["upload"], "sha256": sha}, version=V)
    assert alice.ok("uploads.exists", {"sha256": sha, "size": len(data)}, version=V)["exists"] is True
    assert bob.ok("uploads.exists", {"sha256": sha, "size": len(data)}, version=V)["exists"] is False
    # bob's session for the same content is a new upload of bob's, not alice's file
    assert _start(bob, data)["status"] == "open"


def test_read_only_roles_cannot_upload(files_app, alice):
    guest = make_user(files_app, "guest", COMPANY_A, role="guest")
    assert guest.error("uploads.start", {"size": 10}, version=V)["result_code"] == 403
    session = _start(alice, _data(PART))
    assert guest.ok("uploads.get_status", {"upload": session["upload"]}, version=V)["status"] == "open"
    assert _put(guest, session["upload"], 1, _data(PART)).status_code == 403


def test_abandoned_sessions_expire_and_the_sweep_removes_their_parts(files_app, alice, s3, bucket):
    stores = files_app.modelreg_state.stores
    stores.config.put("uploads.expiry_sec", 0)
    data = _data()
    session = _start(alice, data, announce=False)
    assert _put(alice, session["upload"], 1, _parts(data)[1]).status_code == 200
    doc = stores.scope_for(COMPANY_A).uploads.get(session["upload"])
    assert multipart.stored_parts(stores.blobs, doc["key"], doc["s3_upload"])
    assert sweep.run(stores)["aborted"] == 1
    assert multipart.stored_parts(stores.blobs, doc["key"], doc["s3_upload"]) == {}
    assert alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)["status"] == "aborted"
    assert _put(alice, session["upload"], 2, _parts(data)[2]).json["meta"]["result_subcode"] == 1402
    assert visible_objects(s3, bucket) == []


def test_abort_drops_the_parts(files_app, alice):
    stores = files_app.modelreg_state.stores
    data = _data()
    session = _start(alice, data)
    assert _put(alice, session["upload"], 1, _parts(data)[1]).status_code == 200
    assert alice.ok("uploads.abort", {"upload": session["upload"]}, version=V) == {"aborted": True}
    doc = stores.scope_for(COMPANY_A).uploads.get(session["upload"])
    assert multipart.stored_parts(stores.blobs, doc["key"], doc["s3_upload"]) == {}
    assert alice.ok("uploads.abort", {"upload": session["upload"]}, version=V) == {"aborted": False}
    # the content claim went with it: a new session for the same content may store it
    assert _start(alice, data)["status"] == "open"


def test_content_is_stored_once_and_counted_across_deletes(alice, s3, bucket):
    data = _data(PART + 10)
    sha = hashlib.sha256(data).hexdigest()
    first, second = _model(alice, "first"), _model(alice, "second")
    session = _start(alice, data)
    for number, body in _parts(data).items():
        assert _put(alice, session["upload"], number, body).status_code == 200
    alice.ok("uploads.complete", {"upload": session["upload"], "sha256": sha, "model": first}, version=V)
    again = _start(alice, data)
    assert again["status"] == "complete" and again["file"]["sha256"] == sha  # nothing to send
    alice.ok("uploads.complete", {"upload": again["upload"], "sha256": sha, "model": second}, version=V)
    # models.upload of the same bytes stores nothing new either
    third = _model(alice, "third")
    reply = alice.raw("/v2.13/models.upload", body=data, query_string=f"model={third}")
    assert reply.status_code == 200 and reply.json["data"]["sha256"] == sha
    assert visible_objects(s3, bucket) == [f"{COMPANY_A}/sha256/{sha}"]
    alice.ok("models.delete", {"model": first}, version="2.13")
    alice.ok("models.delete", {"model": third}, version="2.13")
    assert _download(alice, second) == data
    path = f"/files/sha256/{sha}"
    assert alice.raw(path, method="DELETE").json == {"deleted": False}  # still used: never by path
    alice.ok("models.delete", {"model": second}, version="2.13")
    assert visible_objects(s3, bucket) == []
    assert alice.ok("uploads.exists", {"sha256": sha, "size": len(data)}, version=V)["exists"] is False


def test_models_upload_with_a_sha256_stores_under_the_content_key(alice, s3, bucket):
    data = b"small weights"
    sha = hashlib.sha256(data).hexdigest()
    model = _model(alice)
    reply = alice.raw("/v2.13/models.upload", body=data, query_string=f"model={model}&sha256={sha}")
    assert reply.status_code == 200, reply.text
    assert reply.json["data"]["uri"].endswith(f"/files/sha256/{sha}")
    assert visible_objects(s3, bucket) == [f"{COMPANY_A}/sha256/{sha}"]
    download = alice.raw("/v2.13/models.download", body={"model": model})
    assert download.headers["ETag"] == f'"{sha}"'
    assert download.headers["Repr-Digest"].startswith("sha-256=:")


@pytest.mark.parametrize("size,wished,expected", [(0, None, 16 * MIB), (10, 1, PART),
                                                  (100_000 * 5 * MIB, None, 50 * MIB)])
def test_part_size_stays_within_s3_limits(alice, size, wished, expected):
    request = {"size": size, **({"part_size": wished} if wished else {})}
    session = alice.ok("uploads.start", request, version=V)
    assert session["part_size"] == expected and session["part_count"] <= 10_000
    alice.ok("uploads.abort", {"upload": session["upload"]}, version=V)


def test_files_route_serves_content_with_its_digest_and_ranges(alice):
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    model = _model(alice)
    assert alice.raw("/v2.13/models.upload", body=data, query_string=f"model={model}&sha256={sha}").status_code == 200
    whole = alice.raw(f"/files/sha256/{sha}", method="GET")
    assert whole.content == data and whole.headers["ETag"] == f'"{sha}"' and "Digest" in whole.headers
    part = alice.raw(f"/files/sha256/{sha}", method="GET", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]


def test_an_empty_file_is_one_empty_part(alice):
    session = _start(alice, b"")
    assert session["part_count"] == 1
    reply = _put(alice, session["upload"], 1, b"")
    assert reply.status_code == 200, reply.text
    done = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(b"").hexdigest()},
                    version=V)
    assert done["file"]["size"] == 0
