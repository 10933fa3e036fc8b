"""Storing a model's weight file in our object store and pointing the model at it: shared by
models.upload (bytes from the client) and models.import_url (bytes the server fetched).

The file is content-addressed (services/shared/content.py): stored once per company under its sha256
when the sha256 is announced, else under `models/<model id>/<fresh id>/<file name>`; the model's uri
becomes the object's `/files` URL only once the bytes are completely stored and checked, and the
previous file loses its reference after the model was updated.
"""

from __future__ import annotations

import posixpath

from database import ids
from database.collections.scope import Scope
from services import errors
from services.call import Stores
from services.promotion import rules
from services.shared import content
from services.shared.stored_files import CONTROL, blob_store, checked_media_type, object_key

DEFAULT_FILENAME = "weights"


def public_base_url(config, headers: dict | None) -> str:
    """Where clients reach this server: `server.public_url` when configured, else the request's host."""
    configured = config.get("server.public_url") if config is not None else ""
    if configured:
        return str(configured).rstrip("/")
    headers = headers or {}
    host = headers.get("X-FORWARDED-HOST") or headers.get("HOST")
    if not host:
        raise errors.BadRequest("a Host header is required to name the stored file")
    scheme = (headers.get("X-FORWARDED-PROTO") or "http").split(",")[0].strip()
    return f"{scheme}://{host.split(',')[0].strip()}"


def clean_filename(value) -> str:
    name = posixpath.basename(str(value if value is not None else "").replace("\\", "/")).strip()
    name = CONTROL.sub("", name)
    return name if name and name not in (".", "..") else DEFAULT_FILENAME


def store_model_file(scope: Scope, stores: Stores, user: str, model_id: str, stream, length: int | None, *,
                     filename: str, content_type: str, sha256: str | None, base_url: str,
                     size_hint: int | None = None, extra: dict | None = None) -> dict:
    """Stores the stream as the model's file, content-addressed (services/shared/content.py); returns
    {model, uri, size, sha256}. `extra` adds fields to the model's `file` record (e.g. the URL it was
    imported from)."""
    blobs = blob_store(stores)
    model = scope.models.get_writable(model_id, {"_id": 1, "ready": 1, "project": 1, "name": 1})
    if model is not None:
        rules.refuse_file_change(scope, model)  # before any byte is stored
    own_key = object_key(scope.company, f"models/{model_id}/{ids.new_id()[:12]}/{filename}")
    doc = content.store_stream(scope, blobs, stream, length, checked_media_type(content_type),
                               sha256.lower() if sha256 else None, own_key, 1, size_hint)
    return content.point_model_at(scope, stores, user, model_id, doc, filename=filename, content_type=content_type,
                                  base_url=base_url, extra=extra)
