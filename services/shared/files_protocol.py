"""The rules of the ClearML files protocol under `/files` (server/http/files_route.py speaks its HTTP).

Every path belongs to the caller's company (`<company>/<path>`). A file written to a path is
content-addressed: it streams to a fresh object while it is hashed (no second read); when the company
already holds that sha256 the fresh object is dropped and the path takes one more reference of the
existing content, otherwise the fresh object becomes the content (services/shared/content.py). The path
then points at the content (database/collections/file_paths_db.py); what it pointed at before gives
its reference back. Reads, ranges, HEAD and deletes go through that record; a path written before
paths were content-addressed is served from its own key. The change log names the path (`file.uploaded`,
`file.deleted`), never the objects behind it.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

from database import ids
from database.collections import recording
from database.storage.blobstore import BlobInfo, BlobStream
from services import errors
from services.call import Identity, Stores
from services.identity import roles
from services.promotion import rules
from services.shared import content
from services.shared.stored_files import (
    CONTENT_DIR,
    FILES_PREFIX,
    blob_store,
    checked_media_type,
    clean_path,
    content_sha256,
    delete_path,
    discard,
    give_back,
    object_key,
    open_blob,
    resolve,
)


def store_file(stores: Stores, identity: Identity, path: str, stream, length: int | None,
               content_type: str | None, size_hint: int | None = None) -> tuple[str, dict]:
    """Stores a `/files` upload under the caller's company; returns the clean path and the stored
    content (`size`, `sha256`). `size_hint` bounds an unknown length (the size of the whole multipart body)."""
    roles.require_writer(identity, "files.upload")
    clean = clean_path(path)
    if clean.split("/", 1)[0] == CONTENT_DIR:
        raise errors.BadRequest(f"{CONTENT_DIR}/ holds content-addressed files, named by their sha256: "
                                "upload them with uploads.* or models.upload", path=path)
    key = object_key(identity.company, clean)
    scope = stores.scope_for(identity.company)
    _refuse_frozen(stores, identity, key, clean)
    blobs = blob_store(stores)
    media_type = checked_media_type(content_type)
    recorder = recording.current()
    with recording.bound(None):  # the entry names the path below, not the objects behind it
        doc = content.store_stream(scope, blobs, stream, length, media_type, None,
                                   object_key(identity.company, f"uploads/{ids.new_id()}"), 1, size_hint)
        target = {"key": doc["key"], "sha256": doc["sha256"], "size": doc["size"], "content_type": media_type,
                  "content": bool(doc.get("content", True))}
        try:
            previous = scope.file_paths.point(key, target)
        except BaseException:
            give_back(scope, blobs, target)
            raise
        if previous is not None:
            give_back(scope, blobs, previous)
        elif not scope.content_files.holds_key(key):  # written before: its own object is replaced now
            discard(blobs, key)
    if recorder is not None:
        recorder.blob_changed("created", key, doc["size"], doc["sha256"])
    return clean, doc


def stat_file(stores: Stores, identity: Identity, path: str) -> tuple[BlobInfo, str | None]:
    """The path's object information (its media type as uploaded) and sha256 when known."""
    held, record = resolve(stores, identity.company, object_key(identity.company, path))
    info = blob_store(stores).stat(held)
    if info is None:
        raise errors.FileNotFound(path=path)
    if record is None:
        return info, content_sha256(path)
    return dataclasses.replace(info, content_type=record["content_type"]), record["sha256"]


def open_file(stores: Stores, identity: Identity, path: str, byte_range: tuple[int, int | None] | None = None,
              ) -> tuple[BlobStream, str | None]:
    """Opens a file of the caller's company; `byte_range` is (first, last inclusive or None), or (-n, None)
    for the last n bytes. Returns the stream and the file's sha256 when known. Raises FileNotFound (also
    for other companies' files)."""
    held, record = resolve(stores, identity.company, object_key(identity.company, path))
    stream = open_blob(blob_store(stores), held, byte_range, path=path)
    if record is None:
        return stream, content_sha256(path)
    stream.content_type = record["content_type"]
    return stream, record["sha256"]


def delete_file_at(stores: Stores, identity: Identity, path: str) -> bool:
    roles.require_writer(identity, "files.delete")
    clean = clean_path(path)
    key = object_key(identity.company, clean)
    _refuse_frozen(stores, identity, key, clean)
    return delete_path(stores, identity.company, key)


def _refuse_frozen(stores: Stores, identity: Identity, key: str, clean: str) -> None:
    """The `/files` protocol cannot overwrite or delete the file of a frozen published version either."""
    rules.refuse_object_change(stores.scope_for(identity.company), key, f"{FILES_PREFIX}/{quote(clean)}")
