"""Model files in S3-compatible object storage (SeaweedFS, AWS S3, MinIO, Ceph), through the minio client's
public calls and, for uploads, presigned requests of our own (database/storage/s3_requests.py).

Uploads are streamed: the body is read part by part (multipart upload above `part_size`), hashed on the
way, and checked against the declared length and digest BEFORE the last part is sent, so a bad or cut
off upload is never completed: a multipart upload is aborted when anything raises while it reads or
sends, so a failed upload leaves no visible object. Errors of an unreachable store come out as the
driver's exceptions (database.errors.STORAGE_UNAVAILABLE).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

import certifi
from minio import Minio
from minio.error import S3Error
from urllib3.util import Retry, Timeout

from database.collections import recording
from database.errors import STORAGE_UNAVAILABLE, QueryError
from database.storage import s3_http
from database.storage.s3_requests import S3Requests

log = logging.getLogger("modelreg.blobstore")

CHUNK_SIZE = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
DEFAULT_PARTS_IN_FLIGHT = 3
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
# A store built without settings (tests, tools): the defaults of s3.read_timeout_sec, s3.connect_timeout_sec
DEFAULT_SEND_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 5.0
MISSING_CODES = ("NoSuchKey", "NoSuchObject", "NotFound")
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class BlobIntegrityError(QueryError):
    """The bytes received do not match the declared length or sha256; nothing was stored."""


class BlobSourceError(QueryError):
    """The bytes to store could not be read (the client went away); nothing was stored."""


class BlobTooLarge(QueryError):
    """The body needs more than max_parts parts of the part size chosen for it; nothing was stored."""


class BlobNotFound(LookupError):
    pass


class BlobRangeError(ValueError):
    """The requested byte range lies outside the object."""


@dataclass(frozen=True)
class StoredBlob:
    size: int
    sha256: str
    etag: str


@dataclass(frozen=True)
class BlobInfo:
    size: int
    etag: str
    content_type: str


@dataclass
class BlobStream:
    """An open download: iterate `chunks`, then (or on any error) call `close` to release the connection."""

    chunks: Iterator[bytes]
    length: int  # bytes in this response
    total_size: int  # bytes in the whole object
    offset: int  # first byte of this response within the object
    etag: str
    content_type: str
    close: Callable[[], None]
    partial: bool = False  # a byte range of the object (HTTP 206)


class _VerifyingReader:
    """Reads a request stream into the part buffer, counting and hashing the bytes, and raises
    BlobIntegrityError as soon as the end is reached with the wrong length or digest: before the
    last part is sent, so the upload is abandoned (aborted) instead of completed."""

    def __init__(self, raw: BinaryIO, length: int | None, sha256: str | None):
        self._raw = raw
        self._length = length
        self._expected_sha256 = sha256.lower() if sha256 else None
        self._hash = hashlib.sha256()
        self.size = 0
        self.verified = False  # the end was reached and checked

    def fill(self, buffer: memoryview) -> int:
        """Reads into `buffer` until it is full or the body ends; returns the number of bytes read."""
        filled = 0
        while filled < len(buffer):
            try:
                piece = self._raw.read(min(len(buffer) - filled, CHUNK_SIZE))
            except OSError as exc:  # a reset or timed-out client socket: not the store's fault
                reason = str(exc) or type(exc).__name__
                raise BlobSourceError("the request body could not be read", reason=reason) from exc
            if not piece:
                self._at_end()
                break
            buffer[filled:filled + len(piece)] = piece
            filled += len(piece)
            self.size += len(piece)
            self._hash.update(piece)
            if self._length is not None and self.size >= self._length:
                self._at_end()
                break
        return filled

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def _at_end(self) -> None:
        if self._length is not None and self.size != self._length:
            raise BlobIntegrityError(
                "the body ended before its declared length" if self.size < self._length
                else "the body is longer than its declared length",
                expected=self._length, received=self.size,
            )
        if self._expected_sha256 and self.sha256 != self._expected_sha256:
            raise BlobIntegrityError("sha256 mismatch", expected=self._expected_sha256, received=self.sha256)
        self.verified = True


def is_loopback(endpoint: str) -> bool:
    """Whether an S3 endpoint ("host:port", "[::1]:port") is on this machine's loopback interface."""
    host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 or endpoint.startswith("[") else endpoint
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BlobStore:
    def __init__(self, client: Minio, bucket: str, part_size: int = DEFAULT_PART_SIZE,
                 presign_expiry_sec: int = 600, parts_in_flight: int = DEFAULT_PARTS_IN_FLIGHT,
                 max_parts: int = MAX_PARTS, http=None, checksums: bool = False):
        self.client = client  # minio's public calls: stat, get, list, remove, presigned GET
        self.http = http or s3_http.pool_manager(
            DEFAULT_SEND_TIMEOUT, timeout=Timeout(connect=DEFAULT_CONNECT_TIMEOUT, read=DEFAULT_SEND_TIMEOUT))
        self.bucket = bucket
        self.requests = S3Requests(client, self.http, bucket, checksums)  # uploads and multipart requests
        self.part_size = max(int(part_size), MIN_PART_SIZE)
        self.presign_expiry_sec = int(presign_expiry_sec)
        self.parts_in_flight = max(1, int(parts_in_flight))
        self.max_parts = int(max_parts)
        self._bucket_ready = False

    @classmethod
    def from_config(cls, config) -> BlobStore:
        s3 = config.get("s3")
        secure = bool(s3.get("secure", False))
        # minio's own pool waits 5 min to connect and retries 5 times: a lost store would hold a
        # worker for minutes. Fail within seconds instead; the dispatcher answers with a 500 envelope.
        http = s3_http.pool_manager(  # request bodies are sent under the read timeout, see s3_http
            float(s3.get("read_timeout_sec")),
            timeout=Timeout(connect=float(s3.get("connect_timeout_sec")),
                            read=float(s3.get("read_timeout_sec"))),
            maxsize=int(s3.get("max_connections")),
            cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
            ca_certs=certifi.where(),
            retries=Retry(total=2, connect=2, read=0, backoff_factor=0.2, status_forcelist=[500, 502, 504],
                          allowed_methods=None),
        )
        sign_payload = str(s3.get("sign_payload", "auto")).strip().lower()
        if sign_payload not in ("auto", "true", "false"):
            raise ValueError(f"s3.sign_payload must be auto, true or false, not {sign_payload!r}")
        # Upload bodies go as presigned requests, whose payload is never signed; where payload signing
        # is asked for, each buffered body carries its Content-MD5 instead, checked by the store.
        checksums = not secure and (sign_payload == "true" or (
            sign_payload == "auto" and not is_loopback(s3.get("endpoint"))))
        client = Minio(
            s3.get("endpoint"),
            access_key=s3.get("access_key") or None,
            secret_key=s3.get("secret_key") or None,
            secure=secure,
            region=s3.get("region") or None,
            http_client=http,
        )
        store = cls(
            client,
            s3.get("bucket"),
            part_size=s3.get("part_size", DEFAULT_PART_SIZE),
            presign_expiry_sec=s3.get("presign_expiry_sec", 600),
            parts_in_flight=s3.get("parts_in_flight", DEFAULT_PARTS_IN_FLIGHT),
            http=http,
            checksums=checksums,
        )
        try:
            store.ensure_bucket()
        except STORAGE_UNAVAILABLE as exc:  # the API still serves everything else; retried on upload
            log.warning("object storage at %s is not usable yet: %s", s3.get("endpoint"), exc)
        return store

    def keys(self):
        """Every object's key, listed page by page (backups)."""
        for item in self.client.list_objects(self.bucket, recursive=True):
            if not item.is_dir:
                yield item.object_name

    def reachable(self) -> bool:
        """Whether the store answers and holds the bucket (the readiness probe; raises when unreachable)."""
        return self.client.bucket_exists(self.bucket)

    def ensure_bucket(self) -> None:
        self._bucket_ready = self._bucket_ready or self._make_bucket()

    def _make_bucket(self) -> bool:
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:  # another worker made it first
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        return True

    def put(self, key: str, stream: BinaryIO, length: int | None = None,
            content_type: str = "application/octet-stream", sha256: str | None = None,
            size_hint: int | None = None) -> StoredBlob:
        """Stores the stream under `key` (replacing any object there) only if it has exactly `length`
        bytes (when given) and the given sha256 (when given); otherwise raises and stores nothing.
        `size_hint`, an upper bound of an unknown length, only sizes the parts.

        A body that fits in one part is a plain PUT; a larger one (or one of unknown length) a
        multipart upload, completed only after the last byte was read and checked, and aborted on any
        failure. minio's put_object would allocate two or three copies of every part of a stream of
        unknown length; part-level requests let a few reused part buffers do."""
        self.ensure_bucket()
        headers = {"Content-Type": content_type or "application/octet-stream"}
        reader = _VerifyingReader(stream, length, sha256)
        part_size = self.part_size_for(length if length is not None else size_hint)
        buffer = memoryview(bytearray(part_size if length is None else max(1, min(length, part_size))))
        filled = reader.fill(buffer)
        if reader.verified:
            etag = self.requests.put_object(key, buffer[:filled] if filled else b"", headers)
        else:
            etag = self._put_parts(key, headers, reader, buffer)
        stored = StoredBlob(size=reader.size, sha256=reader.sha256, etag=(etag or "").strip('"'))
        recorder = recording.current()  # the running call's change log (by uri, size and sha256)
        if recorder is not None:
            recorder.blob_changed("created", key, stored.size, stored.sha256)
        return stored

    def part_size_for(self, expected_size: int | None) -> int:
        """The configured part size, or a larger one (whole MiB) when `expected_size` bytes would need
        more than max_parts parts of it."""
        if expected_size is None or expected_size <= self.part_size * self.max_parts:
            return self.part_size
        needed = -(-expected_size // self.max_parts)
        return -(-needed // CHUNK_SIZE) * CHUNK_SIZE

    def _put_parts(self, key: str, headers: dict, reader: _VerifyingReader, buffer: memoryview) -> str:
        """The multipart upload of a body whose first part is in `buffer` (full). Up to
        `parts_in_flight` parts are sent by helper threads while the next one is read: the S3 server
        finishes storing one part while it receives the next, and the client is never kept waiting.
        Memory: parts_in_flight + 1 part buffers, reused."""
        upload_id = self.requests.create_multipart(key, dict(headers))
        spares = [memoryview(bytearray(len(buffer))) for _ in range(self.parts_in_flight)]
        sending: deque = deque()  # (part number, future of its etag, its buffer), oldest first
        parts: list[tuple[int, str]] = []
        filled, number = len(buffer), 0
        try:
            with ThreadPoolExecutor(max_workers=self.parts_in_flight, thread_name_prefix="blob-part") as sender:
                while filled:  # an empty read only returns once the end was checked
                    number += 1
                    if number > self.max_parts:
                        raise BlobTooLarge(f"the file needs more than {self.max_parts} parts of {len(buffer)} bytes;"
                                           " send its length (Content-Length) to have larger parts chosen",
                                           part_size=len(buffer))
                    future = sender.submit(self.requests.upload_part, key, upload_id, number, buffer[:filled])
                    sending.append((number, future, buffer))
                    if reader.verified:
                        break
                    if not spares:
                        spares.append(self._sent(sending, parts))
                    buffer = spares.pop()
                    filled = reader.fill(buffer)  # a failure here waits for the sends on leaving `with`
                while sending:
                    self._sent(sending, parts)
            return self.requests.complete_multipart(key, upload_id, parts)
        except BaseException:
            self._abort(key, upload_id)
            raise

    @staticmethod
    def _sent(sending: deque, parts: list[tuple[int, str]]) -> memoryview:
        """Waits for the oldest part in flight; records it and returns its buffer for reuse."""
        number, future, buffer = sending.popleft()
        parts.append((number, future.result()))
        return buffer

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.requests.abort_multipart(key, upload_id)
        except STORAGE_UNAVAILABLE as exc:  # the store went away: it expires the parts itself
            log.warning("could not abort the multipart upload of %s: %s", key, exc)

    def stat(self, key: str) -> BlobInfo | None:
        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in MISSING_CODES:
                return None
            raise
        return BlobInfo(size=stat.size or 0, etag=(stat.etag or "").strip('"'),
                        content_type=stat.content_type or "application/octet-stream")

    def get(self, key: str, byte_range: tuple[int, int | None] | None = None) -> BlobStream:
        """Opens the object for streaming; `byte_range` is (first, last inclusive or None: to the end),
        or (-n, None) for the last n bytes. Raises BlobNotFound, or BlobRangeError for a range that
        starts beyond the end."""
        request_headers = None
        if byte_range is not None:
            first, last = byte_range
            spec = f"-{-first}" if first < 0 else f"{first}-{'' if last is None else last}"
            request_headers = {"Range": f"bytes={spec}"}
        try:
            response = self.client.get_object(self.bucket, key, request_headers=request_headers)
        except S3Error as exc:
            if exc.code in MISSING_CODES:
                raise BlobNotFound(key) from exc
            if exc.code == "InvalidRange":
                raise BlobRangeError(key) from exc
            raise
        headers = response.headers
        body_length = int(headers.get("Content-Length") or 0)
        total, first = body_length, 0
        match = CONTENT_RANGE.match(headers.get("Content-Range") or "")
        if match:
            first = int(match[1])
            if match[3] != "*":
                total = int(match[3])

        def close() -> None:
            response.close()
            response.release_conn()

        return BlobStream(
            chunks=response.stream(CHUNK_SIZE, decode_content=False),
            length=body_length,
            total_size=total,
            offset=first,
            etag=(headers.get("ETag") or "").strip('"'),
            content_type=headers.get("Content-Type") or "application/octet-stream",
            close=close,
            partial=match is not None,
        )

    def delete(self, key: str) -> bool:
        """Removes the object; False if there was none."""
        if self.stat(key) is None:
            return False
        self.client.remove_object(self.bucket, key)
        recorder = recording.current()
        if recorder is not None:
            recorder.blob_changed("deleted", key)
        return True

    def presigned_url(self, key: str, expires_sec: int | None = None, content_disposition: str | None = None) -> str:
        headers = {"response-content-disposition": content_disposition} if content_disposition else None
        return self.client.presigned_get_object(
            self.bucket, key, expires=timedelta(seconds=expires_sec or self.presign_expiry_sec),
            response_headers=headers,
        )


def bucket_ready(endpoint: str, access_key: str, secret_key: str, bucket: str, create: bool = False) -> bool:
    """Whether the S3 server at `endpoint` (plain HTTP) has `bucket` for this key pair; with `create`,
    makes it when missing (used to wait for the embedded server)."""
    client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False, region="us-east-1")
    if client.bucket_exists(bucket):
        return True
    if create:
        client.make_bucket(bucket)
    return False
