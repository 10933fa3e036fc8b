"""Dropping abandoned upload sessions and unreferenced content, on one host at a time.

Any API call of the uploads service may start a sweep; a lease in MongoDB (`stream_leases`, taken for
the sweep interval and not given back) lets one process in the whole deployment run it per interval.
A session open past its expiry is aborted (the store drops its parts) and its content claim freed;
content no model has referenced for the expiry time is removed. Both read every company's documents,
on purpose: abandoned parts belong to nobody's running call.
"""

from __future__ import annotations

import logging

from database import ids
from database.collections import content_db, stream_leases, uploads_db
from database.errors import STORAGE_UNAVAILABLE
from database.storage import multipart
from services.call import Stores
from services.uploads import plan

log = logging.getLogger("modelreg.uploads.sweep")
LEASE = "uploads-sweep"


def maybe_sweep(stores: Stores) -> bool:
    """Sweeps when no process did within the sweep interval; True when this call swept."""
    if stores.blobs is None:
        return False
    interval = plan.settings(stores.config).sweep_interval_sec
    if stream_leases.take(stores.db, LEASE, 1, ids.new_id(), interval) is None:
        return False
    try:
        run(stores)
    except STORAGE_UNAVAILABLE as exc:  # the next sweep tries again
        log.warning("upload sweep stopped: %s", exc)
    return True


def run(stores: Stores, batch: int = 100) -> dict:
    """One sweep, now (tests call it directly); returns counts."""
    settings = plan.settings(stores.config)
    aborted = removed = 0
    for session in uploads_db.expired_sessions(stores.db, batch):
        multipart.abort(stores.blobs, session["key"], session["s3_upload"])
        if uploads_db.mark_expired(stores.db, session["_id"], session["state"]):
            aborted += 1
            if session.get("claim"):
                stores.scope_for(session["company"]).content_files.release_claim(session["sha256"], session["_id"])
    for doc in content_db.unreferenced(stores.db, settings.expiry_sec, batch):
        if content_db.forget(stores.db, doc) and doc["state"] == content_db.READY:
            stores.blobs.delete(doc["key"])
            removed += 1
    return {"aborted": aborted, "removed": removed}
