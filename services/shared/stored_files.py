"""Files kept by this server: object naming, where a `/files` path's bytes are, and removing a deleted
model's stored file (the `/files` protocol's own rules: services/shared/files_protocol.py).

Every object lives under its company: the `/files/<path>` of company C is the object `C/<path>`, so no
company can read or delete another's files. models.upload stores under `models/<model id>/<upload id>/
<file name>` (a fresh key per upload) and points the model at that object's `/files` URL only once the
bytes are completely stored and checked; the previous file is deleted after the model was updated.

A `/files` path is content-addressed too: `file_paths` (database/collections/file_paths_db.py) names the
object holding its bytes and the content reference it holds. A path without that record was written
before, and its bytes are the object at the path's own key (`<company>/<path>`): read and deleted there.
"""

from __future__ import annotations

import base64
import logging
import re
from urllib.parse import quote, unquote, urlsplit

from database.collections import recording
from database.collections.scope import Scope
from database.errors import STORAGE_UNAVAILABLE
from database.storage.blobstore import BlobNotFound, BlobRangeError, BlobStore, BlobStream, StoredBlob
from services import errors
from services.call import Stores

log = logging.getLogger("modelreg.stored_files")

FILES_PREFIX = "/files"
MAX_PATH_BYTES = 900  # S3 keys are at most 1024 bytes; the company prefix takes the rest
DEFAULT_FILENAME = "weights"
CONTENT_DIR = "sha256"  # content-addressed files: `<company>/sha256/<hex>` (services/shared/content.py)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A media type as HTTP carries it (RFC 9110 token "/" token, then parameters of visible ASCII): it becomes
# a header of the object store's request and of every later download reply.
MEDIA_TYPE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+( *;[ -~]*)?$")
MAX_MEDIA_TYPE = 255


class RangeNotSatisfiable(errors.ApiError):
    code = 416
    subcode = 0
    default_msg = "Requested range not satisfiable"


# --- object naming ---------------------------------------------------------------------------------


def clean_path(path: str) -> str:
    """The canonical object path for a `/files` path: segments joined by '/', no leading '/'.

    '.' and '..' segments, backslashes (a '..\\' segment on some backends) and control characters
    are refused with 400 (a storage backend could resolve them across companies, or fail on them)."""
    segments = [s for s in (path or "").split("/") if s]
    if not segments:
        raise errors.BadRequest("a file path is required")
    if any(s in (".", "..") for s in segments) or CONTROL.search(path) or "\\" in path:
        raise errors.BadRequest("invalid file path", path=path)
    clean = "/".join(segments)
    if len(clean.encode("utf-8")) > MAX_PATH_BYTES:
        raise errors.BadRequest(f"file path longer than {MAX_PATH_BYTES} bytes")
    return clean


def object_key(company: str, path: str) -> str:
    if not company:
        raise errors.BadRequest("files belong to a company")
    return f"{company}/{clean_path(path)}"


def files_url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}{FILES_PREFIX}/{quote(clean_path(path))}"


def content_disposition(filename: str) -> str:
    """`attachment` with the file name, RFC 6266 style (ASCII fallback plus UTF-8 `filename*`)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_").replace("\\", "_")
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def stored_key(stores: Stores, model: dict) -> str | None:
    """The object key of the model's file when it is in our store: the recorded key of an upload,
    or the object its `/files` URI names (files the ClearML SDK uploaded through the files route)."""
    file = model.get("file") or {}
    if file.get("stored") and file.get("key"):
        return file["key"]
    uri = model.get("uri") or ""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.path.startswith(FILES_PREFIX + "/"):
        return None
    configured = stores.config.get("server.public_url") if stores.config is not None else ""
    if configured and urlsplit(str(configured)).netloc != parts.netloc:
        return None
    company = model.get("company") or model.get("company_origin")
    try:
        return object_key(company, unquote(parts.path[len(FILES_PREFIX) + 1:]))
    except errors.ApiError:
        return None


def blob_store(stores: Stores) -> BlobStore:
    if stores.blobs is None:
        raise errors.StorageUnavailable("object storage is not configured (s3.endpoint)")
    return stores.blobs


def checked_media_type(content_type: str | None) -> str:
    """The media type to store a file with; one no HTTP header can carry is 400 naming content_type (a
    NUL or a line break used to reach the object store and fail there as 503, or worse, be sent back)."""
    if not content_type:
        return DEFAULT_CONTENT_TYPE
    if len(content_type) > MAX_MEDIA_TYPE or not MEDIA_TYPE.match(content_type):
        raise errors.ValidationError("not a media type such as 'image/jpeg' (visible ASCII, at most "
                                     f"{MAX_MEDIA_TYPE} characters)", field="content_type")
    return content_type


def put_blob(blobs: BlobStore, key: str, stream, length: int | None, content_type: str | None,
         sha256: str | None, size_hint: int | None = None) -> StoredBlob:
    return blobs.put(key, stream, length, checked_media_type(content_type), sha256, size_hint)


def open_blob(blobs: BlobStore, key: str, byte_range, **names) -> BlobStream:
    """Opens `key`; errors name the object by `names` (the caller's path or model id, never the key)."""
    try:
        return blobs.get(key, byte_range)
    except BlobNotFound:
        raise errors.FileNotFound(**names) from None
    except BlobRangeError:
        info = blobs.stat(key)
        raise RangeNotSatisfiable(size=info.size if info else 0) from None


# --- cascades (a model deleted, or its file replaced) ---------------------------------------------


def delete_stored_file(stores: Stores, model_doc: dict) -> bool:
    """Deletes the model's file when it is in our store and no other model of the company points at
    it. Call it after the model document is gone. A storage failure is logged, not raised: the model
    is already deleted and a leftover object is harmless. True when an object was removed."""
    if stores.blobs is None:
        return False
    key = stored_key(stores, model_doc)
    if key is None:
        return False
    company = model_doc.get("company") or model_doc.get("company_origin") or ""
    file = model_doc.get("file") or {}
    try:
        if file.get("content") and file.get("sha256"):  # content-addressed: one reference less
            last = stores.scope_for(company).content_files.release(file["sha256"])
            return bool(last) and stores.blobs.delete(last["key"])
        if stores.scope_for(company).models.uri_used_by_others(model_doc.get("uri"), model_doc.get("_id")):
            return False
        return delete_path(stores, company, key)
    except STORAGE_UNAVAILABLE as exc:
        log.error("could not delete the stored file %s of model %s: %s", key, model_doc.get("_id"), exc)
        return False


def delete_replaced(stores: Stores, previous: dict, new_key: str) -> None:
    """After an upload replaced a model's file: deletes the old object if it was ours and unused."""
    old_key = stored_key(stores, previous)
    if old_key and (old_key != new_key or (previous.get("file") or {}).get("content")):
        delete_stored_file(stores, previous)


def stored_object(stores: Stores, model: dict) -> tuple[str | None, str | None]:
    """(the object holding the model's file, its sha256 when known); (None, None) when not stored here."""
    key = stored_key(stores, model)
    file = model.get("file") or {}
    if key is None or (file.get("stored") and file.get("key")):
        return key, file.get("sha256") if key else None
    held, path = resolve(stores, model.get("company") or model.get("company_origin") or "", key)
    return held, path["sha256"] if path else None


def resolve(stores: Stores, company: str, path_key: str) -> tuple[str, dict | None]:
    """(the object holding a `/files` path's bytes, the path's record or None for a path written before
    paths were content-addressed, whose bytes are at its own key)."""
    path = stores.scope_for(company).file_paths.lookup(path_key)
    return (path["key"], path) if path else (path_key, None)


def delete_path(stores: Stores, company: str, path_key: str) -> bool:
    """Deletes what a `/files` path names: its record and the content reference it holds (the bytes go with
    the last reference), or an older path's own object, unless that object is some content's. The change
    log names the path, whichever object goes. True when there was a file."""
    scope, blobs = stores.scope_for(company), blob_store(stores)
    recorder = recording.current()
    with recording.bound(None):
        path = scope.file_paths.drop(path_key)
        if path is not None:
            give_back(scope, blobs, path)
    if path is None:
        if scope.content_files.holds_key(path_key) or scope.file_paths.uses_key(path_key):
            return False  # held for models or other paths: never removed by a path's name
        return blobs.delete(path_key)
    if recorder is not None:
        recorder.blob_changed("deleted", path_key)
    return True


def give_back(scope: Scope, blobs: BlobStore, path: dict) -> None:
    """Gives back what a path's record held: one reference of its content (the object goes with the
    last), or the object of its own when the content could not be shared."""
    if not path.get("content"):
        discard(blobs, path["key"])
        return
    last = scope.content_files.release(path["sha256"])
    if last is not None:
        discard(blobs, last["key"])


def digest_headers(sha256: str | None, etag: str | None) -> dict:
    """ETag and the content digest (RFC 9530 `Repr-Digest`, and the older RFC 3230 `Digest`) of a
    download: the sha256 when it is known, else the store's etag."""
    if not sha256:
        return {"ETag": f'"{etag}"'} if etag else {}
    digest = base64.b64encode(bytes.fromhex(sha256)).decode()
    return {"ETag": f'"{sha256}"', "Repr-Digest": f"sha-256=:{digest}:", "Digest": f"sha-256={digest}"}


def content_sha256(path: str) -> str | None:
    """The sha256 a `/files` path names when it is a content-addressed file (`sha256/<hex>`)."""
    clean = "/".join(p for p in (path or "").split("/") if p)
    name = clean[len(CONTENT_DIR) + 1:] if clean.startswith(CONTENT_DIR + "/") else ""
    return name if re.fullmatch(r"[0-9a-f]{64}", name) else None


def discard(blobs: BlobStore, key: str) -> None:
    try:
        blobs.delete(key)
    except STORAGE_UNAVAILABLE as exc:
        log.error("could not remove the unreferenced object %s: %s", key, exc)
