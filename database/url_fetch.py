"""Fetches of model weights for models.import_url: http(s) through the guarded outbound client
(database/outbound.py, which holds the address guard and the deadlines), and reads of objects from
allowed S3 buckets. The import's own rules are added here: its host allow-list and size limit, and
that only a 200 reply is a file. Errors of the client are reported as the import's errors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from minio.error import S3Error

from database import outbound
from database.errors import QueryError
from database.outbound import OutboundPolicy


class FetchRefused(QueryError):
    """The URL (or a redirect, or the size) is not allowed by the import policy."""


class FetchFailed(QueryError):
    """The remote end could not be reached or did not deliver the file."""


def _as_import_error(exc: QueryError) -> QueryError:
    kind = FetchRefused if isinstance(exc, outbound.OutboundRefused) else FetchFailed
    return kind(exc.extra, **exc.kwargs)


@dataclass
class Fetched:
    """An open download: `read(n)` as a file, `close()` when done."""

    reader: Any
    length: int | None
    content_type: str
    url: str  # the URL finally fetched (after redirects)

    def read(self, size: int = -1) -> bytes:
        try:
            return self.reader.read(size)
        except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
            raise _as_import_error(exc) from None

    def close(self) -> None:
        self.reader.close()


def open_http(url: str, policy: OutboundPolicy) -> Fetched:
    """Opens an allowed URL for reading (the policy carries the import's allow-list and size limit)."""
    try:
        response = outbound.request(url, policy)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
        raise _as_import_error(exc) from None
    if response.status != 200:
        response.close()
        raise FetchFailed("the remote server did not return the file", status=response.status,
                          host=urlsplit(response.url).hostname)
    return Fetched(response, response.length, response.content_type, response.url)


# --- s3 ------------------------------------------------------------------------------------------


class _LimitedReader:
    """Reads an object, refusing more than `max_bytes` and stopping at the deadline."""

    def __init__(self, response, max_bytes: int, deadline: float):
        self._response = response
        self._max_bytes = max_bytes
        self._deadline = deadline
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() > self._deadline:
            raise FetchFailed("the download took longer than the total time limit")
        want = min(size if size and size > 0 else 1024 * 1024, self._max_bytes + 1 - self.size)
        try:
            piece = self._response.read(max(want, 1))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchFailed("the download was interrupted", reason=str(exc) or type(exc).__name__) from None
        self.size += len(piece)
        if self.size > self._max_bytes:
            raise FetchRefused("the file is larger than the import size limit", max_bytes=self._max_bytes)
        return piece

    def close(self) -> None:
        try:
            self._response.release_conn()
        finally:
            self._response.close()


def open_bucket_object(blobs, bucket: str, key: str, policy: OutboundPolicy) -> Fetched:
    """Opens `bucket/key` with the blob store's client (the caller checked the bucket is allowed)."""
    deadline = time.monotonic() + policy.total_timeout_sec
    max_bytes = policy.max_bytes if policy.max_bytes is not None else 10 * 1024 ** 3
    try:
        info = blobs.client.stat_object(bucket, key)
        if info.size is not None and info.size > max_bytes:
            raise FetchRefused("the file is larger than the import size limit", size=info.size,
                               max_bytes=max_bytes)
        response = blobs.client.get_object(bucket, key)
    except S3Error as exc:
        raise FetchFailed("the object could not be read", bucket=bucket, key=key, reason=exc.code) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise FetchFailed("the object store could not be reached", reason=str(exc)) from None
    reader = _LimitedReader(response, max_bytes, deadline)
    return Fetched(reader, info.size, info.content_type or "", f"s3://{bucket}/{key}")
