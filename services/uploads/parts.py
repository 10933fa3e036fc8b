"""uploads.put_part: one part of a session, streamed through this server into the store's multipart
upload (a transfer: it holds one of the worker's transfer slots, and a client that stops sending is
cut off after the idle timeout, server/http/backpressure.py). Each part pushes back the session's expiry
and its claim on the content's key (services/uploads/claims.py)."""

from __future__ import annotations

from datetime import timedelta

from database import clock
from database.collections import uploads_db
from database.storage import multipart
from services import errors
from services.call import Call
from services.handlers import handles
from services.shared.stored_files import blob_store
from services.uploads import claims, hashing, plan


@handles("uploads.put_part")
def put_part(call: Call) -> dict:
    blobs = blob_store(call.stores)
    session = plan.own_session(call)
    if session["state"] != uploads_db.OPEN:
        raise errors.UploadNotOpen(upload=session["_id"], status=session["state"])
    number = call.data["part"]
    if number > session["part_count"]:
        raise errors.ValidationError(f"the session has {session['part_count']} parts", field="part")
    length = plan.part_length(session, number)
    received = call.body_length
    if received is None and "chunked" not in (call.headers or {}).get("TRANSFER-ENCODING", "").lower():
        received = 0  # HTTP/1.1: no Content-Length and no chunked coding is an empty body
    if received != length:
        raise errors.ValidationError(f"part {number} is {length} bytes; send exactly that (Content-Length)",
                                     field="part", received=received)
    fold = hashing.begin_part(session["_id"], number)
    sha256 = None
    try:
        etag, sha256 = multipart.send_part(blobs, session["key"], session["s3_upload"], number, call.body, length,
                                           call.data.get("sha256"), fold)
    finally:
        if fold is not None:
            hashing.end_part(session["_id"], number, sha256)
    expires = clock.now() + timedelta(seconds=plan.settings(call.config).expiry_sec)  # still in use
    if not call.scope.uploads.record_part(session["_id"], number, {"etag": etag, "sha256": sha256, "size": length},
                                          expires):
        raise errors.UploadNotOpen(upload=session["_id"])
    if not claims.hold(call, session):  # the claim is pushed back with the expiry, or the session fails now
        claims.fail_lost(call, blobs, session, expected=uploads_db.OPEN)
    return {"upload": session["_id"], "part": number, "size": length, "sha256": sha256}
