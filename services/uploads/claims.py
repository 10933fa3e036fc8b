"""A session's claim on its content's own key (`<company>/sha256/<hex>`): the key is shared by every
session of that content, and another one may take the claim once it lapsed.

The claim (database/collections/content_db.py) lasts `expiry_sec + complete_lease_sec` from when it
was last held, so that a writer that died does not keep the content from others for long. A session
holds it again with each part it receives, right before it joins its parts into the key, and after
hashing them, before it records the key as content or deletes it: each time one write in MongoDB,
which no other session on any process or host can win while the claim is held. A session that lost
its claim (it sent nothing for that long, and another upload took the key) fails without touching
the key: the bytes there are the other session's.
"""

from __future__ import annotations

from typing import NoReturn

from database.collections import uploads_db
from database.storage import multipart
from services import errors
from services.call import Call
from services.uploads import plan


def lease_sec(config) -> float:
    """How long a claim lasts: past the session's own expiry, and then the time to complete it."""
    settings = plan.settings(config)
    return settings.expiry_sec + settings.complete_lease_sec


def hold(call: Call, session: dict) -> bool:
    """Renews the session's claim for another lease; True when the session holds it (or claimed nothing:
    its key is its own)."""
    if not session.get("claim"):
        return True
    return call.scope.content_files.claim(session["sha256"], session["size"], session["key"], session["_id"],
                                          lease_sec(call.config))


def fail_lost(call: Call, blobs, session: dict, expected: str) -> NoReturn:
    """Fails a session whose claim another upload took: drops the parts of its own multipart upload (an
    upload already joined is gone, which is fine), never the object at the key. When the session left
    `expected` meanwhile, whoever moved it (a complete, the sweep) deals with its parts."""
    if call.scope.uploads.set_state(session["_id"], uploads_db.FAILED, expected=expected):
        multipart.abort(blobs, session["key"], session["s3_upload"])
    raise errors.UploadNotOpen("the session's claim on the content lapsed and another upload took it; "
                               "start again", upload=session["_id"], status=uploads_db.FAILED)
