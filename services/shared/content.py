"""Content-addressed files: a file is kept once per company under its sha256, `<company>/sha256/<hex>`,
and counted (database/collections/content_db.py): every model whose weights are that content holds one
reference, and the object goes when the last reference does. models.upload, models.import_url and
uploads.complete store this way; a file stored earlier under another key keeps working (its `file.key`
is read as before and it is removed as before, when no other model points at it).

When the sha256 is known before the bytes arrive (uploads.start, models.upload with `sha256`) the writer
first claims the content's own key, so bytes that were verified are never replaced by unverified ones;
otherwise the bytes go to a key of their own and the content record names that key.
"""

from __future__ import annotations

import re

from database import ids
from database.collections.scope import Scope
from database.storage.blobstore import BlobStore
from services import errors
from services.call import Stores
from services.shared.stored_files import CONTENT_DIR, delete_replaced, discard, files_url, object_key, put_blob

SHA256 = re.compile(r"^[0-9a-f]{64}$")
CLAIM_SEC = 3600.0  # a writer that died leaves its claim; another may take it after this long


def content_key(company: str, sha256: str) -> str:
    return object_key(company, f"{CONTENT_DIR}/{sha256.lower()}")


def uri_of(base_url: str, company: str, key: str) -> str:
    """The `/files` URL of an object of the company (what a model's uri holds)."""
    return files_url(base_url, key[len(company) + 1:])


def public_file(doc: dict) -> dict:
    return {"size": doc["size"], "sha256": doc["sha256"]}


def release_reference(scope: Scope, blobs: BlobStore, sha256: str) -> None:
    last = scope.content_files.release(sha256)
    if last is not None:
        discard(blobs, last["key"])


def store_stream(scope: Scope, blobs: BlobStore, stream, length: int | None, content_type: str, sha256: str | None,
                 other_key: str, refs: int, size_hint: int | None = None) -> dict:
    """Stores a body as content with `refs` references; returns the content record (`key`, `sha256`,
    `size`, `content`: False when another writer's claim on the same content kept it unshared)."""
    claimed, token = False, ids.new_id()
    if sha256 and length is not None:
        claimed = scope.content_files.claim(sha256, length, content_key(scope.company, sha256), token, CLAIM_SEC)
    key = content_key(scope.company, sha256) if claimed else other_key
    try:
        blob = put_blob(blobs, key, stream, length, content_type, sha256, size_hint)
    except BaseException:
        if claimed:
            scope.content_files.release_claim(sha256, token)
        raise
    doc = scope.content_files.make_ready(blob.sha256, blob.size, key, refs, token if claimed else None)
    if doc is None:  # another session is writing this content right now: keep ours apart
        return {"key": key, "sha256": blob.sha256, "size": blob.size, "content": False}
    if doc["key"] != key:  # the company held it already: one copy is enough
        discard(blobs, key)
    return {**doc, "content": True}


def point_model_at(scope: Scope, stores: Stores, user: str, model_id: str, doc: dict, *, filename: str,
                   content_type: str, base_url: str, extra: dict | None = None, keep_on_failure: bool = False) -> dict:
    """Makes stored content (`doc`, already counting a reference for this model) the model's file;
    the model's previous file loses its reference. Returns {model, uri, size, sha256}. An unshared
    object (`content` False) is removed when the model cannot take it, unless `keep_on_failure` (other
    models may already point at it)."""
    uri = uri_of(base_url, scope.company, doc["key"])
    file = {"size": doc["size"], "sha256": doc["sha256"], "content_type": content_type, "filename": filename,
            "stored": True, "key": doc["key"], "content": bool(doc.get("content", True)), **(extra or {})}
    try:
        previous = scope.models.set_file(model_id, file, uri, user)
    except Exception:
        _undo(scope, stores, doc, keep_on_failure)
        raise
    if previous is None:  # not the company's model, or deleted while the bytes were arriving
        _undo(scope, stores, doc, keep_on_failure)
        raise errors.InvalidModelId("no such company model", id=model_id, company=scope.company)
    delete_replaced(stores, {**previous, "company": scope.company}, doc["key"])
    return {"model": model_id, "uri": uri, "size": doc["size"], "sha256": doc["sha256"]}


def _undo(scope: Scope, stores: Stores, doc: dict, keep: bool) -> None:
    if doc.get("content", True):
        release_reference(scope, stores.blobs, doc["sha256"])
    elif not keep:
        discard(stores.blobs, doc["key"])
