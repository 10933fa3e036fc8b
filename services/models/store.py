"""Storing a model's weight file in our object store and pointing the model at it: shared by
models.upload (bytes from the client) and models.import_url (bytes the server fetched).

The object is `models/<model id>/<fresh id>/<file name>` under the company; the model's uri becomes
that object's `/files` URL only once the bytes are completely stored and checked, and the previous
file is deleted after the model was updated.
"""

from __future__ import annotations

import posixpath

from database import ids
from database.collections.scope import Scope
from services import errors
from services.call import Stores
from services.promotion import rules
from services.shared.stored_files import CONTROL, blob_store, delete_replaced, discard, files_url, object_key, put_blob

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
    """Stores the stream as the model's file; returns {model, uri, size, sha256}. `extra` adds fields to
    the model's `file` record (e.g. the URL it was imported from)."""
    blobs = blob_store(stores)
    model = scope.models.get_writable(model_id, {"_id": 1, "ready": 1, "project": 1, "name": 1})
    if model is not None:
        rules.refuse_file_change(scope, model)  # before any byte is stored
    path = f"models/{model_id}/{ids.new_id()[:12]}/{filename}"
    key = object_key(scope.company, path)
    uri = files_url(base_url, path)
    blob = put_blob(blobs, key, stream, length, content_type, sha256, size_hint)
    file = {"size": blob.size, "sha256": blob.sha256, "content_type": content_type, "filename": filename,
            "stored": True, "key": key, **(extra or {})}
    try:
        previous = scope.models.set_file(model_id, file, uri, user)
    except Exception:
        discard(blobs, key)
        raise
    if previous is None:  # deleted while the bytes were arriving
        discard(blobs, key)
        raise errors.InvalidModelId("no such company model", id=model_id, company=scope.company)
    delete_replaced(stores, {**previous, "company": scope.company}, key)
    return {"model": model_id, "uri": uri, "size": blob.size, "sha256": blob.sha256}
