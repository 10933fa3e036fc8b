"""Claims on a content's own key: a session keeps its claim while it sends parts, never writes to or
deletes the key once another session took it, and content another session claims still becomes the
completing session's file (stored apart, without dedup)."""

from __future__ import annotations

import hashlib
import os
import time

from tests.files_support import visible_objects
from tests.helpers import COMPANY_A, ApiClient, codes, make_user
from tests.uploads.session_calls import PART, V
from tests.uploads.session_calls import download as _download
from tests.uploads.session_calls import model as _model
from tests.uploads.session_calls import parts as _parts
from tests.uploads.session_calls import put as _put
from tests.uploads.session_calls import start as _start


def _send(client: ApiClient, upload: str, data: bytes) -> None:
    for number, body in _parts(data).items():
        reply = _put(client, upload, number, body)
        assert reply.status_code == 200, reply.text


def _claims_last(files_app, seconds: float) -> None:
    """A claim lasts expiry_sec + complete_lease_sec from when it was last held: `seconds` here. The
    sweep stays away (it would abort sessions that expire at once)."""
    config = files_app.modelreg_state.stores.config
    config.put("uploads.expiry_sec", seconds)
    config.put("uploads.complete_lease_sec", 0)
    config.put("uploads.sweep_interval_sec", 3600)


def test_each_part_holds_the_sessions_claim_again(files_app, alice):
    _claims_last(files_app, 0)
    data = os.urandom(2 * PART)
    first = _start(alice, data)
    _claims_last(files_app, 3600)
    assert _put(alice, first["upload"], 1, _parts(data)[1]).status_code == 200
    second = _start(alice, data)
    sessions = files_app.modelreg_state.stores.scope_for(COMPANY_A).uploads
    assert sessions.get(second["upload"])["claim"] is False  # the part kept the claim first's
    assert sessions.get(first["upload"])["claim"] is True


def test_a_session_whose_claim_was_taken_never_replaces_or_deletes_the_content(files_app, alice, s3, bucket):
    _claims_last(files_app, 0)
    carol = make_user(files_app, "carol", COMPANY_A)  # a plain user of the same company
    data = os.urandom(2 * PART + 1234)
    sha = hashlib.sha256(data).hexdigest()
    stale = _start(carol, data)
    _send(carol, stale["upload"], os.urandom(len(data)))  # junk under the announced sha256
    time.sleep(0.01)  # past the claim's last hold, to the millisecond MongoDB keeps
    taker = _start(alice, data)  # takes the lapsed claim on the same key
    _send(alice, taker["upload"], data)
    model = _model(alice)
    alice.ok("uploads.complete", {"upload": taker["upload"], "sha256": sha, "model": model}, version=V)
    refused = carol.call("uploads.complete", {"upload": stale["upload"], "sha256": sha}, version=V)
    assert _download(alice, model) == data
    served = alice.raw(f"/files/sha256/{sha}", method="GET")
    assert served.status_code == 200 and served.content == data
    assert alice.ok("uploads.exists", {"sha256": sha, "size": len(data)}, version=V)["exists"] is True
    assert visible_objects(s3, bucket) == [f"{COMPANY_A}/sha256/{sha}"]
    meta = refused.json["meta"]
    assert codes(meta) == (400, 1402) and "claim" in meta["result_msg"]
    assert carol.ok("uploads.get_status", {"upload": stale["upload"]}, version=V)["status"] == "failed"


def test_a_part_after_the_claim_was_taken_fails_the_session_and_leaves_the_key(files_app, alice, s3, bucket):
    _claims_last(files_app, 0)
    data = os.urandom(PART + 10)
    stale = _start(alice, data)
    time.sleep(0.01)
    _claims_last(files_app, 3600)
    taker = _start(alice, data)
    reply = _put(alice, stale["upload"], 1, _parts(data)[1])
    assert codes(reply.json["meta"]) == (400, 1402)
    assert alice.ok("uploads.get_status", {"upload": stale["upload"]}, version=V)["status"] == "failed"
    _send(alice, taker["upload"], data)
    done = alice.ok("uploads.complete", {"upload": taker["upload"], "sha256": hashlib.sha256(data).hexdigest()},
                    version=V)
    assert done["file"]["uri"].endswith(f"/files/sha256/{done['file']['sha256']}")


def test_content_another_session_claims_still_becomes_the_models_file(files_app, alice, s3, bucket):
    carol = make_user(files_app, "carol", COMPANY_A)
    data = os.urandom(PART + 4321)
    sha = hashlib.sha256(data).hexdigest()
    idle = _start(carol, data)  # claims the content and sends nothing (yet)
    session = _start(alice, data)
    _send(alice, session["upload"], data)
    first, second = _model(alice, "first"), _model(alice, "second")
    done = alice.ok("uploads.complete", {"upload": session["upload"], "sha256": sha, "model": first}, version=V)
    assert done["model"] == first and done["file"]["uri"].endswith(f"/files/uploads/{session['upload']}")
    alice.ok("uploads.complete", {"upload": session["upload"], "sha256": sha, "model": second}, version=V)
    assert _download(alice, first) == data and _download(alice, second) == data
    # the claiming session was not touched: it sends and completes at the content key
    _send(carol, idle["upload"], data)
    carol.ok("uploads.complete", {"upload": idle["upload"], "sha256": sha}, version=V)
    assert alice.raw(f"/files/sha256/{sha}", method="GET").content == data
    # the session's own object goes with the last model pointing at it, never the content
    alice.ok("models.delete", {"model": first}, version="2.13")
    assert _download(alice, second) == data
    alice.ok("models.delete", {"model": second}, version="2.13")
    assert visible_objects(s3, bucket) == [f"{COMPANY_A}/sha256/{sha}"]
    third = _model(alice, "third")
    gone = alice.error("uploads.complete", {"upload": session["upload"], "sha256": sha, "model": third}, version=V)
    assert codes(gone) == (400, 1402)
