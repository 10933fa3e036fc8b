"""models.upload / download / get_download_url / delete_file: a model's file kept by this server.

models.upload stores under `models/<model id>/<upload id>/<file name>` (a fresh key per upload) and
points the model at that object's `/files` URL only once the bytes are completely stored and checked;
the previous file is deleted after the model was updated. Like models.edit, these work on published
(ready) models too.
"""

from __future__ import annotations

import posixpath
import uuid

from services import errors
from services.call import Call, StreamResult
from services.handlers import handles
from services.workflows import lookups
from services.workflows.stored_files import (
    CONTROL,
    blob_store,
    content_disposition,
    delete_replaced,
    discard,
    files_url,
    object_key,
    open_blob,
    put_blob,
    stored_key,
)

DEFAULT_FILENAME = "weights"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def public_base_url(call: Call) -> str:
    """Where clients reach this server: `server.public_url` when configured, else the request's host."""
    configured = call.config.get("server.public_url") if call.config is not None else ""
    if configured:
        return str(configured).rstrip("/")
    headers = call.headers or {}
    host = headers.get("X-FORWARDED-HOST") or headers.get("HOST")
    if not host:
        raise errors.BadRequest("a Host header is required to name the uploaded file")
    scheme = (headers.get("X-FORWARDED-PROTO") or "http").split(",")[0].strip()
    return f"{scheme}://{host.split(',')[0].strip()}"


def _own_model(call: Call) -> dict:
    model_id = call.data["model"]
    model = call.scope.models.get_writable(model_id)
    if model is None:
        raise errors.InvalidModelId("no such company model", id=model_id, company=call.company)
    return model


def _readable_model(call: Call) -> dict:
    return lookups.readable_model(call.scope, call.data["model"], {"ui_cache": 0})


def _filename(value) -> str:
    name = posixpath.basename(str(value if value is not None else "").replace("\\", "/")).strip()
    name = CONTROL.sub("", name)
    return name if name and name not in (".", "..") else DEFAULT_FILENAME


def _request_content_type(call: Call) -> str:
    given = call.data.get("content_type")
    if given:
        return str(given)
    header = (call.headers or {}).get("CONTENT-TYPE") or ""
    if header and not header.startswith(("application/x-www-form-urlencoded", "multipart/")):
        return header
    return DEFAULT_CONTENT_TYPE


def _file_name_of(model: dict, key: str) -> str:
    return (model.get("file") or {}).get("filename") or posixpath.basename(key)


@handles("models.upload")
def upload(call: Call) -> dict:
    blobs = blob_store(call.stores)
    model = _own_model(call)
    length = call.body_length
    if length is None:  # HTTP/1.1: no Content-Length and no chunked coding means an empty body
        if "chunked" in (call.headers or {}).get("TRANSFER-ENCODING", "").lower():
            raise errors.BadRequest("models.upload needs a Content-Length (chunked bodies are not accepted)")
        length = 0
    filename = _filename(call.data.get("filename"))
    path = f"models/{model['_id']}/{uuid.uuid4().hex[:12]}/{filename}"
    key = object_key(call.company, path)
    uri = files_url(public_base_url(call), path)
    content_type = _request_content_type(call)
    blob = put_blob(blobs, key, call.body, length, content_type, call.data.get("sha256"))
    file = {"size": blob.size, "sha256": blob.sha256, "content_type": content_type, "filename": filename,
            "stored": True, "key": key}
    try:
        previous = call.scope.models.set_file(model["_id"], file, uri, call.identity.user)
    except Exception:
        discard(blobs, key)
        raise
    if previous is None:  # deleted while the bytes were arriving
        discard(blobs, key)
        raise errors.InvalidModelId("no such company model", id=model["_id"], company=call.company)
    delete_replaced(call.stores, {**previous, "company": call.company}, key)
    return {"model": model["_id"], "uri": uri, "size": blob.size, "sha256": blob.sha256}


@handles("models.download")
def download(call: Call) -> StreamResult:
    blobs = blob_store(call.stores)
    model = _readable_model(call)
    key = stored_key(call.stores, model)
    if key is None:
        raise errors.FileNotStored(model=model["_id"])
    stream = open_blob(blobs, key, None, model=model["_id"])
    file = model.get("file") or {}
    headers = {"Content-Disposition": content_disposition(_file_name_of(model, key))}
    if stream.etag:
        headers["ETag"] = f'"{stream.etag}"'
    return StreamResult(
        chunks=stream.chunks, content_length=stream.length,
        content_type=file.get("content_type") or stream.content_type,
        headers=headers, close=stream.close,
    )


@handles("models.get_download_url")
def get_download_url(call: Call) -> dict:
    blobs = blob_store(call.stores)
    model = _readable_model(call)
    key = stored_key(call.stores, model)
    if key is None:
        raise errors.FileNotStored(model=model["_id"])
    if blobs.stat(key) is None:
        raise errors.FileNotFound(model=model["_id"])
    expires = blobs.presign_expiry_sec
    url = blobs.presigned_url(key, expires, content_disposition(_file_name_of(model, key)))
    return {"url": url, "expires_in": expires}


@handles("models.delete_file")
def delete_file(call: Call) -> dict:
    blobs = blob_store(call.stores)
    model = _own_model(call)
    key = stored_key(call.stores, model)
    if key is None:
        return {"deleted": False}
    in_use = call.scope.models.uri_used_by_others(model.get("uri"), model["_id"])
    deleted = False if in_use else blobs.delete(key)
    call.scope.models.clear_file(model["_id"], call.identity.user)
    return {"deleted": deleted}


