"""uploads.start / get_status / abort / exists: opening, reading and dropping upload sessions.

A session names its object key when it opens: the content's own key (`<company>/sha256/<hex>`) when
the client announced the sha256 and claimed it, else `<company>/uploads/<session id>`. Content the
company already holds completes the session at once: nothing is sent or stored again.
"""

from __future__ import annotations

from datetime import timedelta

from database import clock, ids
from database.collections import uploads_db
from database.storage import multipart, public_urls
from services.call import Call
from services.handlers import handles
from services.identity import roles
from services.shared import content
from services.shared.stored_files import blob_store, checked_media_type, object_key
from services.uploads import claims, plan, sweep

MAX_PART_URLS = 1000  # presigned URLs in one reply; get_status hands out the next ones


@handles("uploads.start")
def start(call: Call) -> dict:
    roles.require_writer(call.identity, "uploads.start")
    blobs = blob_store(call.stores)
    sweep.maybe_sweep(call.stores)
    settings = plan.settings(call.config)
    size = call.data["size"]
    sha256 = (call.data.get("sha256") or "").lower() or None
    content_type = checked_media_type(call.data.get("content_type"))
    part_size = plan.choose_part_size(size, call.data.get("part_size"), settings.part_size)
    now = clock.now()
    session = {"_id": ids.new_id(), "user": call.identity.user, "size": size, "sha256": sha256,
               "part_size": part_size, "part_count": plan.part_count(size, part_size), "content_type": content_type,
               "parts": {}, "created": now, "expires": now + timedelta(seconds=settings.expiry_sec), "claim": False}
    held = call.scope.content_files.ready(sha256, size) if sha256 else None
    if held is not None:  # stored already: the session is complete without a byte sent
        file = {**content.public_file(held), "uri": content.uri_of(plan.base_url_of(call), call.company, held["key"])}
        session.update(state=uploads_db.COMPLETE, key=held["key"], s3_upload=None, file=file, deduplicated=True)
        call.scope.uploads.insert(session)
        return plan.shape(session, None)
    if sha256 and call.scope.content_files.claim(sha256, size, content.content_key(call.company, sha256),
                                                 session["_id"], claims.lease_sec(call.config)):
        session.update(key=content.content_key(call.company, sha256), claim=True)
    else:
        session["key"] = object_key(call.company, f"uploads/{session['_id']}")
    try:
        session.update(state=uploads_db.OPEN, s3_upload=multipart.create(blobs, session["key"], content_type))
        call.scope.uploads.insert(session)
    except BaseException:
        if session["claim"]:
            call.scope.content_files.release_claim(sha256, session["_id"])
        raise
    return _with_part_urls(call, session, plan.shape(session, plan.base_url_of(call)))


@handles("uploads.get_status")
def get_status(call: Call) -> dict:
    session = plan.own_session(call)
    sweep.maybe_sweep(call.stores)
    base = plan.base_url_of(call) if session["state"] == uploads_db.OPEN else None
    return _with_part_urls(call, session, plan.shape(session, base), list_store=True)


@handles("uploads.abort")
def abort(call: Call) -> dict:
    session = plan.own_session(call)
    if not call.scope.uploads.set_state(session["_id"], uploads_db.ABORTED, expected=uploads_db.OPEN):
        return {"aborted": False}
    multipart.abort(blob_store(call.stores), session["key"], session["s3_upload"])
    if session.get("claim"):
        call.scope.content_files.release_claim(session["sha256"], session["_id"])
    return {"aborted": True}


@handles("uploads.exists")
def exists(call: Call) -> dict:
    held = call.scope.content_files.ready(call.data["sha256"].lower(), call.data["size"])
    return {"exists": held is not None}


def _with_part_urls(call: Call, session: dict, shaped: dict, list_store: bool = False) -> dict:
    """With presigned parts configured, the object store's URLs of the next missing parts; with
    `list_store`, the parts the store holds at their right length count as received (parts sent to
    their URLs, which this server never saw), so a resumed client sends only the others."""
    settings = plan.settings(call.config)
    if not settings.presigned_parts or session["state"] != uploads_db.OPEN:
        return shaped
    blobs = blob_store(call.stores)
    have = set(plan.received(session))
    if list_store:
        stored = multipart.stored_parts(blobs, session["key"], session["s3_upload"])
        have |= {n for n, (_etag, size) in stored.items()
                 if n <= session["part_count"] and size == plan.part_length(session, n)}
        shaped["parts"] = sorted(have)
    missing = [n for n in range(1, session["part_count"] + 1) if n not in have][:MAX_PART_URLS]
    expires = int(settings.expiry_sec)
    bucket = blobs.bucket
    shaped["part_urls"] = {str(n): public_urls.presigned_part(call.config, bucket, session["key"],
                                                              session["s3_upload"], n, expires) for n in missing}
    return shaped
