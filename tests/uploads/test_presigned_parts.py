"""Presigned parts (uploads.presigned_parts with s3.public_endpoint): clients PUT parts straight to the object
store, without credentials; complete lists the parts from the store, checks their lengths, hashes the
joined file by one read and attaches it to a model. Tampered or expired URLs are refused by the store;
another company cannot use the session."""

from __future__ import annotations

import hashlib
import os
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from client import transfer
from client.api import Api
from client.profiles import Profile
from tests.files_support import app_with_s3, visible_objects
from tests.helpers import COMPANY_A, COMPANY_B, codes, make_user
from tests.live_support import start_live_server

V = "2.99"
MIB = 1024 * 1024
PART = 5 * MIB


def _app(app_config, registry, s3, bucket, **uploads):
    app_config.put("uploads.presigned_parts", True)
    app_config.put("s3.public_endpoint", f"http://{s3.endpoint}")
    for key, value in uploads.items():
        app_config.put(f"uploads.{key}", value)
    return app_with_s3(app_config, registry, s3, bucket=bucket)


@pytest.fixture
def presigned_app(app_config, registry, db, s3, bucket):
    app = _app(app_config, registry, s3, bucket)
    yield app
    app.modelreg_state.stores.db.client.close()


def _parts(data: bytes) -> dict[int, bytes]:
    return {i + 1: data[o:o + PART] for i, o in enumerate(range(0, len(data), PART))}


def _start(client, data: bytes, announce: bool = True) -> dict:
    request = {"size": len(data), "part_size": PART}
    if announce:
        request["sha256"] = hashlib.sha256(data).hexdigest()
    return client.ok("uploads.start", request, version=V)


def _send(url: str, body: bytes) -> requests.Response:
    return requests.put(url, data=body, timeout=60)  # no credentials: the URL carries the signature


def _model(client, name: str = "presigned-weights") -> str:
    return client.ok("models.create", {"name": name, "uri": "file:///tmp/x"}, version="2.13")["id"]


def test_parts_sent_to_the_store_complete_into_a_model(presigned_app, s3, bucket):
    alice = make_user(presigned_app, "alice", COMPANY_A, role="admin")
    data = os.urandom(2 * PART + 4321)
    session = _start(alice, data)
    assert sorted(session["part_urls"], key=int) == ["1", "2", "3"]
    assert all(url.startswith(f"http://{s3.endpoint}/{bucket}/") for url in session["part_urls"].values())
    for number in (3, 1):
        reply = _send(session["part_urls"][str(number)], _parts(data)[number])
        assert reply.status_code == 200, reply.text
    missing = alice.error("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest()},
                          version=V)
    assert codes(missing) == (400, 1403) and "2" in missing["result_msg"]
    status = alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)
    # parts sent to the store count as received: a resumed client sends only the others
    assert status["status"] == "open" and status["parts"] == [1, 3] and list(status["part_urls"]) == ["2"]
    assert _send(status["part_urls"]["2"], _parts(data)[2]).status_code == 200
    model = _model(alice)
    done = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest(),
                                         "model": model, "filename": "w.bin"}, version=V)
    assert done["file"]["sha256"] == hashlib.sha256(data).hexdigest() and done["model"] == model
    assert done["reread_parts"] == 3  # the server never saw the bytes: one read of the whole file
    reply = alice.raw("/v2.13/models.download", body={"model": model})
    assert reply.status_code == 200 and reply.content == data
    assert len(visible_objects(s3, bucket)) == 1


def test_a_part_replaced_at_its_url_with_other_bytes_fails_the_hash(presigned_app, s3, bucket):
    alice = make_user(presigned_app, "alice", COMPANY_A, role="admin")
    data = os.urandom(PART + 100)
    session = _start(alice, data, announce=False)
    parts = _parts(data)
    # part 1 through the server (hashed on the way), then replaced at its URL: the old hash must not count
    assert alice.raw(f"/v{V}/uploads.put_part", body=parts[1], method="PUT",
                     query_string=f"upload={session['upload']}&part=1").status_code == 200
    assert _send(session["part_urls"]["1"], os.urandom(PART)).status_code == 200
    assert _send(session["part_urls"]["2"], parts[2]).status_code == 200
    reply = alice.call("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest()},
                       version=V).json
    if reply["meta"]["result_code"] == 200:
        # weed mini may keep the first copy of a part sent twice and join that one (S3 keeps the last):
        # then the hash must still be of the bytes actually joined, never of the bytes once seen
        (key,) = visible_objects(s3, bucket)
        stored = s3.client().get_object(bucket, key)
        try:
            assert hashlib.sha256(stored.read()).hexdigest() == reply["data"]["file"]["sha256"]
        finally:
            stored.close()
            stored.release_conn()
    else:
        assert codes(reply["meta"]) == (400, 1002)
        assert visible_objects(s3, bucket) == []  # the unverified file was dropped


def test_a_part_of_the_wrong_length_is_named(presigned_app):
    alice = make_user(presigned_app, "alice", COMPANY_A, role="admin")
    data = os.urandom(PART + 100)
    session = _start(alice, data)
    assert _send(session["part_urls"]["1"], os.urandom(PART + 1)).status_code == 200  # the store takes it
    assert _send(session["part_urls"]["2"], _parts(data)[2]).status_code == 200
    meta = alice.error("uploads.complete", {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest()},
                       version=V)
    assert codes(meta) == (400, 12) and "part" in meta["result_msg"]
    # the session stays open and the part counts as missing, to be sent again (not done here: weed mini,
    # unlike S3, may keep the first copy of a part sent twice)
    status = alice.ok("uploads.get_status", {"upload": session["upload"]}, version=V)
    assert status["status"] == "open" and status["parts"] == [2] and list(status["part_urls"]) == ["1"]
    assert alice.ok("uploads.abort", {"upload": session["upload"]}, version=V) == {"aborted": True}


def _tampered(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_tampered_urls_are_refused_by_the_store(presigned_app, s3, bucket):
    alice = make_user(presigned_app, "alice", COMPANY_A, role="admin")
    data = os.urandom(PART + 10)
    session = _start(alice, data)
    url = session["part_urls"]["1"]
    for changes in ({"partNumber": "2"}, {"X-Amz-Signature": "0" * 64}, {"X-Amz-Expires": "604800"}):
        assert _send(_tampered(url, **changes), _parts(data)[1]).status_code == 403, changes
    other_key = urlsplit(url)._replace(path=f"/{bucket}/{COMPANY_B}/uploads/stolen").geturl()
    assert _send(other_key, b"x").status_code == 403
    assert visible_objects(s3, bucket) == []


def test_an_expired_url_is_refused(app_config, registry, db, s3, bucket):
    app = _app(app_config, registry, s3, bucket, expiry_sec=1)
    try:
        alice = make_user(app, "alice", COMPANY_A, role="admin")
        data = os.urandom(10)
        session = _start(alice, data)
        time.sleep(2.5)  # past the URL's lifetime (the store compares times in whole seconds)
        assert _send(session["part_urls"]["1"], data).status_code == 403
    finally:
        app.modelreg_state.stores.db.client.close()


def test_another_company_cannot_use_the_session(presigned_app):
    alice = make_user(presigned_app, "alice", COMPANY_A, role="admin")
    bob = make_user(presigned_app, "bob", COMPANY_B, role="admin")
    data = os.urandom(100)
    session = _start(alice, data)
    assert _send(session["part_urls"]["1"], data).status_code == 200
    request = {"upload": session["upload"], "sha256": hashlib.sha256(data).hexdigest(), "model": _model(bob)}
    for endpoint, body in (("uploads.get_status", {"upload": session["upload"]}), ("uploads.complete", request),
                           ("uploads.abort", {"upload": session["upload"]})):
        assert codes(bob.error(endpoint, body, version=V)) == (400, 1401), endpoint
    done = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": request["sha256"]}, version=V)
    assert done["file"]["size"] == 100


@pytest.mark.e2e
def test_the_python_client_sends_parts_to_the_store_when_offered(mongo_uri, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the client's resume state
    server = start_live_server(mongo_uri, tmp_path, {
        "MODELREG_S3_ENDPOINT": s3.endpoint, "MODELREG_S3_ACCESS_KEY": s3.access_key,
        "MODELREG_S3_SECRET_KEY": s3.secret_key, "MODELREG_S3_BUCKET": s3.bucket,
        "MODELREG_S3_PUBLIC_ENDPOINT": f"http://{s3.endpoint}", "MODELREG_UPLOADS_PRESIGNED_PARTS": "true"})
    try:
        api = Api(Profile(server.url, server.access_key, server.secret_key, "default"))
        direct, through = tmp_path / "direct.bin", tmp_path / "through.bin"
        direct.write_bytes(os.urandom(PART + 99))
        through.write_bytes(os.urandom(PART + 99))
        sent = transfer.upload(api, direct, parallel=2, part_size=PART)
        # the server never saw the bytes: complete read the whole file back once to hash it
        assert sent["sent_parts"] == [1, 2] and sent["reread_parts"] == 2
        assert sent["file"]["sha256"] == hashlib.sha256(direct.read_bytes()).hexdigest()
        kept = transfer.upload(api, through, parallel=1, part_size=PART, presigned=False)
        assert kept["reread_parts"] == 0  # hashed on the way through the server, in order
        assert kept["file"]["sha256"] == hashlib.sha256(through.read_bytes()).hexdigest()
    finally:
        server.stop()
