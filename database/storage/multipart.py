"""S3 multipart uploads that stay open across calls, processes and hosts (resumable uploads,
services/uploads/): the upload id and each part's etag live in MongoDB, the bytes in the store.

A part is streamed to the store through a presigned UploadPart URL (the same URL a client may be
given to send the part itself), chunk by chunk, never held whole: it is hashed on the way, and its
last chunk is only sent once the length and sha256 were checked, so a wrong or cut-off part never
replaces what the store holds for that number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import timedelta

from database.collections import recording
from database.errors import QueryError
from database.storage.blobstore import CHUNK_SIZE, BlobIntegrityError, BlobSourceError, BlobStore
from database.storage.s3_requests import S3RequestError

MISSING_UPLOAD = "NoSuchUpload"


class UploadGone(QueryError):
    """The store no longer knows the multipart upload (aborted or expired there)."""


def create(blobs: BlobStore, key: str, content_type: str = "application/octet-stream") -> str:
    """Opens a multipart upload for `key`; returns its upload id."""
    blobs.ensure_bucket()
    return blobs.requests.create_multipart(key, {"Content-Type": content_type})


def part_url(blobs: BlobStore, key: str, upload_id: str, number: int, expires_sec: int) -> str:
    """A presigned URL that stores part `number` when PUT to (UNSIGNED-PAYLOAD: any body)."""
    return blobs.requests.url("PUT", key, {"uploadId": upload_id, "partNumber": str(number)},
                              timedelta(seconds=expires_sec))


def _checked_chunks(stream, length: int, sha256: str | None, hasher, on_chunk: Callable[[bytes], None] | None,
                    ) -> Iterator[bytes]:
    """The body's chunks; the last one is only yielded once length and digest were checked."""
    received, held = 0, None
    while received < length:
        try:
            piece = stream.read(min(CHUNK_SIZE, length - received))
        except OSError as exc:  # a reset or timed-out client socket
            raise BlobSourceError("the part could not be read", reason=str(exc) or type(exc).__name__) from exc
        if not piece:
            break
        received += len(piece)
        hasher.update(piece)
        if on_chunk is not None:
            on_chunk(piece)
        if held is not None:
            yield held
        held = piece
    if received != length:
        raise BlobIntegrityError("the part ended before its declared length", expected=length, received=received)
    if sha256 and hasher.hexdigest() != sha256.lower():
        raise BlobIntegrityError("part sha256 mismatch", expected=sha256.lower(), received=hasher.hexdigest())
    if held is not None:
        yield held


def send_part(blobs: BlobStore, key: str, upload_id: str, number: int, stream, length: int,
              sha256: str | None = None, on_chunk: Callable[[bytes], None] | None = None) -> tuple[str, str]:
    """Streams `length` bytes of `stream` as part `number`; returns (etag, sha256 hex of the part).
    Raises BlobIntegrityError (wrong length or sha256), BlobSourceError (client went away),
    UploadGone, or a store error; the part is then not (re)placed."""
    hasher = hashlib.sha256()
    body = _checked_chunks(stream, length, sha256, hasher, on_chunk)
    if length == 0:
        list(body)  # still checks the digest of the empty part
        body = b""
    try:
        etag = blobs.requests.upload_part(key, upload_id, number, body, length)
    except S3RequestError as exc:
        if exc.code == MISSING_UPLOAD:
            raise UploadGone("the store no longer holds this upload", number=number) from exc
        raise
    return etag, hasher.hexdigest()


def complete(blobs: BlobStore, key: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
    """Joins the parts (number, etag) into the object `key`; returns its etag."""
    try:
        return blobs.requests.complete_multipart(key, upload_id, parts)
    except S3RequestError as exc:
        if exc.code == MISSING_UPLOAD:
            raise UploadGone("the store no longer holds this upload") from exc
        raise


def joined(key: str, size: int, sha256: str) -> None:
    """Reports the object a completed upload made to the running call's change log, once its sha256 is
    known (the store's complete call does not say it)."""
    recorder = recording.current()
    if recorder is not None:
        recorder.blob_changed("created", key, size, sha256)


def abort(blobs: BlobStore, key: str, upload_id: str) -> None:
    """Drops the upload and every part the store holds for it; an upload already gone is fine."""
    try:
        blobs.requests.abort_multipart(key, upload_id)
    except S3RequestError as exc:
        if exc.code != MISSING_UPLOAD:
            raise


def stored_parts(blobs: BlobStore, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
    """{part number: (etag, size)} of the parts the store holds for an open upload (parts clients sent
    to presigned URLs, which this server never saw)."""
    try:
        return blobs.requests.list_parts(key, upload_id)
    except S3RequestError as exc:
        if exc.code == MISSING_UPLOAD:
            return {}
        raise


def read_range(blobs: BlobStore, key: str, first: int, length: int) -> Iterator[bytes]:
    """The bytes first..first+length-1 of a stored object, chunk by chunk."""
    if length <= 0:
        return
    stream = blobs.get(key, (first, first + length - 1))
    try:
        yield from stream.chunks
    finally:
        stream.close()
