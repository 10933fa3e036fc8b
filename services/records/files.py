"""records.add / upload / delete_file / download: a record and the file kept with it.

records.add takes a JSON body, or a multipart/form-data form (the endpoint declares `form_body`; the
dispatcher reads the fields before the `file` part as the request and hands the file part over as a
stream). The file goes to the object store first, under `<company>/records/<model>/<record>/<name>`;
the record is written only once the bytes are completely stored, and the object is removed again if
the record cannot be written, so a failed or cut-off call leaves neither a record nor an object.
"""

from __future__ import annotations

import posixpath

from database import clock, ids
from database.storage import public_urls
from services import errors
from services.call import Call, StreamResult
from services.handlers import handles
from services.records import model_data
from services.shared.stored_files import (
    CONTROL,
    blob_store,
    content_disposition,
    discard,
    object_key,
    open_blob,
    put_blob,
)

DEFAULT_FILENAME = "file"
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _filename(value) -> str:
    name = posixpath.basename(str(value if value is not None else "").replace("\\", "/")).strip()
    name = CONTROL.sub("", name)
    return name if name and name not in (".", "..") else DEFAULT_FILENAME


def _store(call: Call, model_id: str, record_id: str, stream, filename: str, content_type: str,
           length: int | None, sha256: str | None = None, size_hint: int | None = None) -> dict:
    """Streams a record's file to the object store; returns the `file` entry to record."""
    filename = _filename(filename)
    key = object_key(call.company, f"records/{model_id}/{record_id}/{ids.new_id()[:8]}/{filename}")
    blob = put_blob(blob_store(call.stores), key, stream, length, content_type, sha256, size_hint)
    return {"key": key, "filename": filename, "size": blob.size, "sha256": blob.sha256,
            "content_type": content_type or DEFAULT_CONTENT_TYPE}


@handles("records.add")
def add(call: Call) -> dict:
    data = call.data
    model = model_data.own_model(call.scope, data["model"])
    dataset = model_data.dataset_of_model(call.scope, model["_id"], data.get("dataset"))
    doc = model_data.new_record(call.identity.user, model["_id"], data, dataset, clock.now())
    form = call.body  # a server.http.multipart.Form for a form body, else the raw stream or None
    part = getattr(form, "file", None)
    if part is not None:
        doc["file"] = _store(call, model["_id"], doc["_id"], part, part.filename, part.content_type, None,
                             size_hint=call.body_length)
        try:
            form.finish()
            call.scope.records.insert(doc)
        except BaseException:
            discard(blob_store(call.stores), doc["file"]["key"])
            raise
    else:
        call.scope.records.insert(doc)
    return {"record": model_data.render(doc)}


@handles("records.upload")
def upload(call: Call) -> dict:
    record = model_data.own_record(call.scope, call.data["record"])
    length = call.body_length
    if length is None:
        if "chunked" in (call.headers or {}).get("TRANSFER-ENCODING", "").lower():
            raise errors.BadRequest("records.upload needs a Content-Length (chunked bodies are not accepted)")
        length = 0
    header = (call.headers or {}).get("CONTENT-TYPE") or ""
    content_type = call.data.get("content_type") or (header if header and not header.startswith(
        ("application/x-www-form-urlencoded", "multipart/")) else DEFAULT_CONTENT_TYPE)
    file = _store(call, record["model"], record["_id"], call.body, call.data.get("filename"), content_type,
                  length, call.data.get("sha256"))
    try:
        previous = call.scope.records.set_file(record["_id"], file)
    except BaseException:
        discard(blob_store(call.stores), file["key"])
        raise
    if previous is None:  # deleted while the bytes were arriving
        discard(blob_store(call.stores), file["key"])
        raise errors.InvalidRecordId(id=record["_id"])
    old_key = (previous.get("file") or {}).get("key")
    if old_key and old_key != file["key"]:
        model_data.delete_objects(call.stores, [old_key])
    return {"record": record["_id"], "file": {k: v for k, v in file.items() if k != "key"}}


@handles("records.delete_file")
def delete_file(call: Call) -> dict:
    record = model_data.own_record(call.scope, call.data["record"])
    key = (record.get("file") or {}).get("key")
    if not key:
        return {"deleted": False}
    call.scope.records.clear_file(record["_id"])
    return {"deleted": model_data.delete_objects(call.stores, [key]) > 0}


@handles("records.download")
def download(call: Call) -> StreamResult:
    blobs = blob_store(call.stores)
    record = model_data.own_record(call.scope, call.data["record"])
    file = record.get("file") or {}
    if not file.get("key"):
        raise errors.RecordFileNotStored(record=record["_id"])
    disposition = content_disposition(file.get("filename") or DEFAULT_FILENAME)
    if call.config is not None and call.config.get("s3.public_endpoint", ""):
        if blobs.stat(file["key"]) is None:
            raise errors.FileNotFound(record=record["_id"])
        url = public_urls.presigned_get(call.config, blobs.bucket, file["key"], blobs.presign_expiry_sec, disposition)
        return StreamResult(chunks=[], content_length=0, status=307, headers={"Location": url})
    stream = open_blob(blobs, file["key"], None, record=record["_id"])
    headers = {"Content-Disposition": disposition}
    if stream.etag:
        headers["ETag"] = f'"{stream.etag}"'
    return StreamResult(chunks=stream.chunks, content_length=stream.length,
                        content_type=file.get("content_type") or stream.content_type,
                        headers=headers, close=stream.close)
