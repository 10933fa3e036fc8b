"""Fetches of model weights for models.import_url: http(s) through the guarded outbound client
(services/shared/outbound.py, which holds the address guard and the deadlines), and objects of allowed
S3 buckets through database/storage/bucket_reads.py. The import's own rules are added here: its host
allow-list and size limit (carried by the policy), and that only a 200 reply is a file. Errors of the
client are reported as the import's errors (ImportRefused 400/1003, ImportFailed 400/1004)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from database.storage import bucket_reads
from services import errors
from services.shared import outbound
from services.shared.outbound import OutboundPolicy


def _as_import_error(exc: outbound.OutboundRefused | outbound.OutboundFailed) -> errors.ApiError:
    kind = errors.ImportRefused if isinstance(exc, outbound.OutboundRefused) else errors.ImportFailed
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
        raise errors.ImportFailed("the remote server did not return the file", status=response.status,
                                  host=urlsplit(response.url).hostname)
    return Fetched(response, response.length, response.content_type, response.url)


def open_bucket_object(blobs, bucket: str, key: str, policy: OutboundPolicy) -> Fetched:
    """Opens `bucket/key` with the blob store's client under the policy's size limit and total
    deadline (the caller checked the bucket is allowed)."""
    found = bucket_reads.open_object(blobs, bucket, key, policy.max_bytes, policy.total_timeout_sec)
    return Fetched(found.reader, found.size, found.content_type, f"s3://{bucket}/{key}")
