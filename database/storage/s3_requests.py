"""The S3 object and multipart requests the store sends itself, through minio's public surface only.

minio's public calls either buffer whole parts in copies (put_object on a stream) or offer no
part-level control (create, upload part, complete, abort, list parts are private there). Each request
here is signed as a presigned URL by minio's public `get_presigned_url` (query-string SigV4) and sent
through our own connection pool (database/storage/s3_http.py: send timeouts, store timing). A presigned
request signs only the method, key and query, so its body is UNSIGNED-PAYLOAD: it is never hashed for
the signature, and any body may be streamed. The small XML replies are read with the standard library.

A reply the store refuses raises `S3RequestError` (one of database.errors.STORAGE_UNAVAILABLE), with the
store's error code (`NoSuchUpload`, ...) for callers that treat some codes as answers.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import timedelta
from xml.sax.saxutils import escape

from minio import Minio
from urllib3 import BaseHTTPResponse, PoolManager

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
SIGNATURE_LIFETIME = timedelta(hours=1)  # how long a request may take to start and send its body
MAX_LISTED_PARTS = 1000  # S3's page size for ListParts


class S3RequestError(Exception):
    """The store answered a request with an error (or an answer that cannot be read)."""

    def __init__(self, operation: str, status: int, code: str = "", message: str = ""):
        self.operation, self.status, self.code = operation, status, code
        super().__init__(f"{operation}: HTTP {status} {code or ''} {message or ''}".strip())


def _text(element: ET.Element | None, name: str) -> str:
    """The text of child `name` of an S3 reply element, with or without S3's namespace."""
    if element is None:
        return ""
    found = element.find(S3_NS + name)
    if found is None:
        found = element.find(name)
    return (found.text or "") if found is not None else ""


def _parse(operation: str, response: BaseHTTPResponse) -> ET.Element | None:
    """The reply's XML root; raises S3RequestError for an error reply (CompleteMultipartUpload may
    answer 200 with an <Error> body, so the root is checked whatever the status)."""
    root = None
    if response.data:
        try:
            root = ET.fromstring(response.data)
        except ET.ParseError as exc:
            if response.status < 300:
                raise S3RequestError(operation, response.status, "MalformedReply", str(exc)) from exc
    if root is not None and root.tag.rsplit("}", 1)[-1] == "Error":
        raise S3RequestError(operation, response.status, _text(root, "Code"), _text(root, "Message"))
    if response.status >= 300:
        raise S3RequestError(operation, response.status)
    return root


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def content_md5(body: bytes | memoryview) -> str:
    """The Content-MD5 header of a body: the store refuses the body if it changed on the way."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


class S3Requests:
    """Object and multipart requests on one bucket. `checksums`: send Content-MD5 with buffered bodies
    (s3.sign_payload), so a body damaged on the wire is refused by the store."""

    def __init__(self, client: Minio, http: PoolManager, bucket: str, checksums: bool = False):
        self.client, self.http, self.bucket, self.checksums = client, http, bucket, checksums

    def url(self, method: str, key: str, query: dict[str, str] | None = None,
            lifetime: timedelta = SIGNATURE_LIFETIME) -> str:
        """A presigned URL of `method` on `key` with `query` (also what clients are given to send parts)."""
        return self.client.get_presigned_url(method, self.bucket, key, expires=lifetime,
                                             extra_query_params=dict(query or {}))

    def send(self, method: str, key: str, query: dict[str, str] | None = None,
             body=None, headers: dict[str, str] | None = None, resend: bool = True) -> BaseHTTPResponse:
        """Sends one request and reads its (small) reply. `resend=False` for a body that can be read once
        (an iterator): the pool's retries would send an empty body the second time."""
        headers = dict(headers or {})
        if self.checksums and isinstance(body, (bytes, memoryview)) and "Content-MD5" not in headers:
            headers["Content-MD5"] = content_md5(body)
        extra = {} if resend else {"retries": False}
        return self.http.request(method, self.url(method, key, query), body=body, headers=headers,
                                 preload_content=True, **extra)

    def put_object(self, key: str, body: bytes | memoryview, headers: dict[str, str]) -> str:
        """PutObject; returns the etag."""
        response = self.send("PUT", key, body=body, headers=headers)
        _parse("PutObject", response)
        return _etag(response.headers.get("ETag"))

    def create_multipart(self, key: str, headers: dict[str, str]) -> str:
        """CreateMultipartUpload; returns the upload id."""
        root = _parse("CreateMultipartUpload", self.send("POST", key, {"uploads": ""}, headers=headers))
        upload_id = _text(root, "UploadId")
        if not upload_id:
            raise S3RequestError("CreateMultipartUpload", 200, "MalformedReply", "no UploadId")
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes | memoryview | Iterable[bytes],
                    length: int | None = None) -> str:
        """UploadPart; returns the part's etag. An iterable body is streamed (give its `length`) and sent once."""
        headers = {} if length is None else {"Content-Length": str(length)}
        streamed = not isinstance(body, (bytes, memoryview))
        response = self.send("PUT", key, {"uploadId": upload_id, "partNumber": str(number)},
                             body=body, headers=headers, resend=not streamed)
        _parse("UploadPart", response)
        return _etag(response.headers.get("ETag"))

    def complete_multipart(self, key: str, upload_id: str, parts: Iterable[tuple[int, str]]) -> str:
        """CompleteMultipartUpload of the parts (number, etag), in number order; returns the object's etag."""
        listed = "".join(f"<Part><PartNumber>{number}</PartNumber><ETag>&quot;{escape(etag)}&quot;</ETag></Part>"
                         for number, etag in sorted(parts))
        body = f'<CompleteMultipartUpload xmlns="{S3_NS[1:-1]}">{listed}</CompleteMultipartUpload>'.encode()
        root = _parse("CompleteMultipartUpload", self.send("POST", key, {"uploadId": upload_id}, body=body,
                                                           headers={"Content-Type": "application/xml"}))
        return _etag(_text(root, "ETag"))

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload: the store drops every part of the upload."""
        _parse("AbortMultipartUpload", self.send("DELETE", key, {"uploadId": upload_id}))

    def list_parts(self, key: str, upload_id: str, page_size: int = MAX_LISTED_PARTS) -> dict[int, tuple[str, int]]:
        """ListParts, page after page: {part number: (etag, size)}."""
        found: dict[int, tuple[str, int]] = {}
        marker = "0"
        while True:
            query = {"uploadId": upload_id, "max-parts": str(page_size), "part-number-marker": marker}
            root = _parse("ListParts", self.send("GET", key, query))
            parts = [] if root is None else root.findall(S3_NS + "Part") or root.findall("Part")
            for part in parts:
                found[int(_text(part, "PartNumber"))] = (_etag(_text(part, "ETag")), int(_text(part, "Size") or 0))
            if _text(root, "IsTruncated").lower() != "true" or not parts:
                return found
            marker = _text(root, "NextPartNumberMarker") or str(max(found))
