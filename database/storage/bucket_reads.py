"""Reads of objects from buckets other than our own layout (models.import_url's s3:// URLs), with the
blob store's client: a size cap checked before reading and while reading, and a total deadline.
Which buckets may be read is the caller's decision (services/models/url_import.py).

Errors name the API error they stand for (database/errors.py): a refusal by the limits is the
import's refusal (400/1003), an object that cannot be read its failure (400/1004)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import urllib3
from minio.error import S3Error

from database.errors import QueryError
from database.storage.blobstore import BlobStore

DEFAULT_MAX_BYTES = 10 * 1024 ** 3


class BucketReadRefused(QueryError):
    """The object is larger than the reader's size cap."""


class BucketReadFailed(QueryError):
    """The object could not be read, or not within the deadline."""


class LimitedReader:
    """Reads an object, refusing more than `max_bytes` and stopping at the deadline (time.monotonic())."""

    def __init__(self, response, max_bytes: int, deadline: float):
        self._response = response
        self._max_bytes = max_bytes
        self._deadline = deadline
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() > self._deadline:
            raise BucketReadFailed("the download took longer than the total time limit")
        want = min(size if size and size > 0 else 1024 * 1024, self._max_bytes + 1 - self.size)
        try:
            piece = self._response.read(max(want, 1))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BucketReadFailed("the download was interrupted", reason=str(exc) or type(exc).__name__) from None
        self.size += len(piece)
        if self.size > self._max_bytes:
            raise BucketReadRefused("the file is larger than the import size limit", max_bytes=self._max_bytes)
        return piece

    def close(self) -> None:
        try:
            self._response.release_conn()
        finally:
            self._response.close()


@dataclass
class BucketObject:
    reader: LimitedReader
    size: int | None
    content_type: str


def open_object(blobs: BlobStore, bucket: str, key: str, max_bytes: int | None, total_timeout_sec: float
                ) -> BucketObject:
    """Opens `bucket/key` for reading within `total_timeout_sec` and at most `max_bytes` (None: 10 GiB)."""
    deadline = time.monotonic() + total_timeout_sec
    max_bytes = max_bytes if max_bytes is not None else DEFAULT_MAX_BYTES
    try:
        info = blobs.client.stat_object(bucket, key)
        if info.size is not None and info.size > max_bytes:
            raise BucketReadRefused("the file is larger than the import size limit", size=info.size,
                                    max_bytes=max_bytes)
        response = blobs.client.get_object(bucket, key)
    except S3Error as exc:
        raise BucketReadFailed("the object could not be read", bucket=bucket, key=key, reason=exc.code) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise BucketReadFailed("the object store could not be reached", reason=str(exc)) from None
    return BucketObject(LimitedReader(response, max_bytes, deadline), info.size, info.content_type or "")
