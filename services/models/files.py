"""models.upload / download / get_download_url / delete_file: a model's file kept by this server.

models.upload stores under `models/<model id>/<upload id>/<file name>` (a fresh key per upload) and
points the model at that object's `/files` URL only once the bytes are completely stored and checked;
the previous file is deleted after the model was updated. Like models.edit, these work on published
(ready) models too.
"""

from __future__ import annotations

import posixpath

from services import errors
from services.call import Call, StreamResult
from services.handlers import handles
from services.models import store as model_store
from services.promotion import rules
from services.shared import lookups
from services.shared.stored_files import (
    blob_store,
    content_disposition,
    delete_path,
    delete_stored_file,
    digest_headers,
    open_blob,
    stored_key,
    stored_object,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def public_base_url(call: Call) -> str:
    return model_store.public_base_url(call.config, call.headers)


def _own_model(call: Call) -> dict:
    model_id = call.data["model"]
    model = call.scope.models.get_writable(model_id)
    if model is None:
        raise errors.InvalidModelId("no such company model", id=model_id, company=call.company)
    return model


def _readable_model(call: Call) -> dict:
    return lookups.readable_model(call.scope, call.data["model"], {"ui_cache": 0})


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
    blob_store(call.stores)  # 500/2 before reading anything when no store is configured
    model = _own_model(call)
    length = call.body_length
    if length is None:  # HTTP/1.1: no Content-Length and no chunked coding means an empty body
        if "chunked" in (call.headers or {}).get("TRANSFER-ENCODING", "").lower():
            raise errors.BadRequest("models.upload needs a Content-Length (chunked bodies are not accepted)")
        length = 0
    return model_store.store_model_file(
        call.scope, call.stores, call.identity.user, model["_id"], call.body, length,
        filename=model_store.clean_filename(call.data.get("filename")), content_type=_request_content_type(call),
        sha256=call.data.get("sha256"), base_url=public_base_url(call))


@handles("models.download")
def download(call: Call) -> StreamResult:
    blobs = blob_store(call.stores)
    model = _readable_model(call)
    key, sha256 = stored_object(call.stores, model)
    if key is None:
        raise errors.FileNotStored(model=model["_id"])
    stream = open_blob(blobs, key, None, model=model["_id"])
    file = model.get("file") or {}
    headers = {"Content-Disposition": content_disposition(_file_name_of(model, stored_key(call.stores, model))),
               **digest_headers(sha256, stream.etag)}
    return StreamResult(
        chunks=stream.chunks, content_length=stream.length,
        content_type=file.get("content_type") or stream.content_type,
        headers=headers, close=stream.close,
    )


@handles("models.get_download_url")
def get_download_url(call: Call) -> dict:
    blobs = blob_store(call.stores)
    model = _readable_model(call)
    key, _sha256 = stored_object(call.stores, model)
    if key is None:
        raise errors.FileNotStored(model=model["_id"])
    if blobs.stat(key) is None:
        raise errors.FileNotFound(model=model["_id"])
    expires = blobs.presign_expiry_sec
    name = _file_name_of(model, stored_key(call.stores, model))  # the path's name, not the content's
    url = blobs.presigned_url(key, expires, content_disposition(name))
    return {"url": url, "expires_in": expires}


@handles("models.delete_file")
def delete_file(call: Call) -> dict:
    blob_store(call.stores)  # 500/2 before anything changes when no store is configured
    model = _own_model(call)
    key = stored_key(call.stores, model)
    if key is None:
        return {"deleted": False}
    rules.refuse_file_change(call.scope, model)
    if (model.get("file") or {}).get("content"):  # shared content: this model's reference goes
        previous = call.scope.models.clear_file(model["_id"], call.identity.user)
        return {"deleted": bool(previous) and delete_stored_file(call.stores, {**previous, "company": call.company})}
    in_use = call.scope.models.uri_used_by_others(model.get("uri"), model["_id"])
    deleted = False if in_use else delete_path(call.stores, call.company, key)
    call.scope.models.clear_file(model["_id"], call.identity.user)
    return {"deleted": deleted}


