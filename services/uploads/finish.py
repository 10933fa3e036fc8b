"""uploads.complete: joins the parts, checks the whole file's sha256 (services/uploads/hashing.py) and
records the content; with `model`, the file becomes that model's weights.

One caller at a time completes a session (a lease on the session document); a second complete while
the first runs is refused with UploadBusy, and one after it answers the same file. A file whose sha256
is not the announced one is removed and the session fails: the client starts again. A session that
claimed the content's key holds its claim before joining into it and before recording or removing what
it joined (services/uploads/claims.py); one that lost it fails without touching the key.
"""

from __future__ import annotations

from database.collections import uploads_db
from database.storage import multipart
from services import errors
from services.call import Call
from services.handlers import handles
from services.models import store as model_store
from services.shared import content, lookups
from services.shared.stored_files import blob_store, discard
from services.uploads import claims, hashing, plan


@handles("uploads.complete")
def complete(call: Call) -> dict:
    blobs = blob_store(call.stores)
    session = plan.own_session(call)
    sha256 = call.data["sha256"].lower()
    model_id = call.data.get("model")
    if model_id:
        lookups.writable_model(call.scope, model_id)
    if session.get("sha256") and session["sha256"] != sha256:
        raise errors.FileIntegrityError("sha256 differs from the one the session was started with", field="sha256")
    if session["state"] != uploads_db.COMPLETE:
        session = _join(call, blobs, session, sha256)
    file = session["file"]
    if file["sha256"] != sha256:
        raise errors.FileIntegrityError("sha256 mismatch", field="sha256", expected=sha256, stored=file["sha256"])
    reply = {"upload": session["_id"], "file": {k: file[k] for k in ("uri", "size", "sha256")}, "model": None,
             "reread_parts": file.get("reread_parts", 0)}
    if model_id:
        content.point_model_at(call.scope, call.stores, call.identity.user, model_id, _model_file(call, blobs, session),
                               filename=model_store.clean_filename(call.data.get("filename") or "weights"),
                               content_type=session.get("content_type") or "application/octet-stream",
                               base_url=plan.base_url_of(call), keep_on_failure=not session.get("shared", True))
        reply["model"] = model_id
    return reply


def _join(call: Call, blobs, session: dict, sha256: str) -> dict:
    """Completes the store's multipart upload and verifies it; returns the completed session."""
    settings = plan.settings(call.config)
    taken = call.scope.uploads.begin_complete(session["_id"], settings.complete_lease_sec)
    if taken is None:
        again = call.scope.uploads.get_writable(session["_id"])
        if again and again["state"] == uploads_db.COMPLETE:
            return again
        if again and again["state"] == uploads_db.COMPLETING:
            raise errors.UploadBusy(upload=session["_id"])
        raise errors.UploadNotOpen(upload=session["_id"], status=(again or session)["state"])
    session = taken
    parts = {int(n): p["etag"] for n, p in (session.get("parts") or {}).items()}
    if settings.presigned_parts:  # parts sent straight to the store were never seen here
        session, parts = _parts_in_store(call, blobs, session)
    missing = [n for n in range(1, session["part_count"] + 1) if n not in parts]
    if missing:
        call.scope.uploads.set_state(session["_id"], uploads_db.OPEN, expected=uploads_db.COMPLETING)
        raise errors.UploadIncomplete(upload=session["_id"], missing=missing[:20], missing_count=len(missing))
    key = session["key"]
    if not claims.hold(call, session):  # another upload took the key: its object is not ours to replace
        claims.fail_lost(call, blobs, session, expected=uploads_db.COMPLETING)
    try:
        multipart.complete(blobs, key, session["s3_upload"], list(parts.items()))
        whole, reread = hashing.whole_sha256(session, blobs, key)
    except BaseException:
        call.scope.uploads.set_state(session["_id"], uploads_db.OPEN, expected=uploads_db.COMPLETING)
        raise
    multipart.joined(key, session["size"], whole)  # the file is on record before it may be dropped below
    if not claims.hold(call, session):  # lapsed while hashing: the key is another upload's to write or drop now
        claims.fail_lost(call, blobs, session, expected=uploads_db.COMPLETING)
    if whole != sha256 or (session.get("sha256") and whole != session["sha256"]):
        discard(blobs, key)  # the session's own key, or the content key it claimed: no verified bytes there
        _release_claim(call, session)
        call.scope.uploads.set_state(session["_id"], uploads_db.FAILED)
        raise errors.FileIntegrityError("sha256 mismatch; the file was dropped, start again", field="sha256",
                                        expected=sha256, received=whole)
    doc = call.scope.content_files.make_ready(whole, session["size"], key, 0,
                                              session["_id"] if session.get("claim") else None)
    shared = doc is not None
    if doc is None:  # another session holds a claim on this content: ours stays at the session's own key
        doc = {"key": key, "sha256": whole, "size": session["size"]}
    elif doc["key"] != key:  # the company stored this content meanwhile
        discard(blobs, key)
    file = {**content.public_file(doc), "uri": content.uri_of(plan.base_url_of(call), call.company, doc["key"]),
            "reread_parts": reread}
    call.scope.uploads.set_state(session["_id"], uploads_db.COMPLETE, expected=uploads_db.COMPLETING, file=file,
                                 key=doc["key"], shared=shared)
    return {**session, "state": uploads_db.COMPLETE, "file": file, "key": doc["key"], "shared": shared}


def _model_file(call: Call, blobs, session: dict) -> dict:
    """What the model's file becomes, holding one reference for it: the shared content, or the session's
    own object when another session's claim kept the content from being shared (dedup is skipped then;
    that object belongs to the models pointing at its uri, like a file stored before content addressing)."""
    file = session["file"]
    if session.get("shared", True):
        held = call.scope.content_files.acquire(file["sha256"], file["size"])
        if held is None:
            raise errors.UploadNotOpen("the content is no longer stored; upload it again", upload=session["_id"])
        return {**held, "content": True}
    if blobs.stat(session["key"]) is None:  # its models were deleted, and the object with the last one
        raise errors.UploadNotOpen("the content is no longer stored; upload it again", upload=session["_id"])
    return {"key": session["key"], "sha256": file["sha256"], "size": file["size"], "content": False}


def _parts_in_store(call: Call, blobs, session: dict) -> tuple[dict, dict[int, str]]:
    """With presigned parts the store's list is the truth: a part sent to its URL may be one this server
    never saw, or may have replaced one it did (whose recorded hash then no longer counts). A part of the
    wrong length is refused here, naming it, before the store is asked to join anything."""
    stored = {n: p for n, p in multipart.stored_parts(blobs, session["key"], session["s3_upload"]).items()
              if n <= session["part_count"]}
    wrong = sorted(n for n, (_etag, size) in stored.items() if size != plan.part_length(session, n))
    if wrong:
        call.scope.uploads.set_state(session["_id"], uploads_db.OPEN, expected=uploads_db.COMPLETING)
        raise errors.ValidationError("parts of the wrong length; send them again", field="part", parts=wrong[:20])
    recorded = {n: p for n, p in (session.get("parts") or {}).items() if stored.get(int(n), ("",))[0] == p["etag"]}
    return {**session, "parts": recorded}, {n: etag for n, (etag, _size) in stored.items()}


def _release_claim(call: Call, session: dict) -> None:
    if session.get("claim"):
        call.scope.content_files.release_claim(session["sha256"], session["_id"])
