"""A streaming reader of multipart/form-data request bodies (RFC 7578), for endpoints that declare
`form_body`: the fields before the `file` part are read into memory (bounded) and become the request;
the `file` part is then read straight from the socket, in pieces, by whoever stores it, never held
whole. The file part must be the last one: what follows it is only checked to be the closing boundary.
The fields come back as text; the dispatcher types and checks them exactly as a JSON body
(server/http/request_data.py, `parse_form_fields`).

A body that ends before its closing boundary raises `FormCutOff`, an OSError, so the blob store treats
it like any other unreadable client stream: the upload is abandoned and nothing is stored.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from services import errors

READ_SIZE = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
FILE_FIELD = "file"
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


class FormCutOff(OSError):
    """The body ended inside a part (the client went away or sent a truncated form)."""


def boundary_of(content_type: str) -> str:
    for key, quoted, plain in _PARAM.findall(content_type or ""):
        if key.lower() == "boundary":
            value = (quoted or plain).strip()
            if value and len(value) <= 70:
                return value
    raise errors.BadRequest("multipart/form-data without a valid boundary")


def _params(header_value: str) -> dict[str, str]:
    return {k.lower(): (q.replace('\\"', '"') if q else p.strip()) for k, q, p in _PARAM.findall(header_value)}


class FilePart:
    """The `file` part's bytes as a file-like `read(n)`; the end of the part is the end of the stream."""

    def __init__(self, form: MultipartForm, filename: str, content_type: str):
        self._form = form
        self.filename = filename
        self.content_type = content_type

    def read(self, size: int = -1) -> bytes:
        return self._form.read_part(size if size and size > 0 else READ_SIZE)


class MultipartForm:
    def __init__(self, stream: BinaryIO, content_type: str, max_fields_bytes: int):
        self._stream = stream
        self._delimiter = b"\r\n--" + boundary_of(content_type).encode("latin-1")
        self._buffer = bytearray(b"\r\n")  # so the first boundary matches the delimiter like every later one
        self._eof = False
        self._part_done = False
        self._closed = False  # the closing boundary was seen
        self._max_fields = max_fields_bytes
        self.file: FilePart | None = None

    # --- reading the underlying stream -------------------------------------------------------------

    def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._eof:
            try:
                piece = self._stream.read(READ_SIZE)
            except OSError as exc:
                raise FormCutOff(f"the form could not be read: {exc}") from exc
            if not piece:
                self._eof = True
            else:
                self._buffer += piece

    def read_part(self, size: int) -> bytes:
        """Up to `size` bytes of the current part; b"" at its end (then the next boundary is checked)."""
        if self._part_done:
            return b""
        self._fill(size + len(self._delimiter) + 2)
        index = self._buffer.find(self._delimiter)
        if index == 0:
            del self._buffer[:len(self._delimiter)]
            self._after_boundary()
            return b""
        if index > 0:
            take = min(size, index)
        else:
            if self._eof:
                raise FormCutOff("the form ended before its closing boundary")
            take = min(size, len(self._buffer) - len(self._delimiter) + 1)
        piece = bytes(self._buffer[:take])
        del self._buffer[:take]
        return piece

    def _after_boundary(self) -> None:
        self._part_done = True
        self._fill(2)
        if self._buffer.startswith(b"--"):
            self._closed = True
        elif not self._buffer.startswith(b"\r\n"):
            if self._eof:
                raise FormCutOff("the form ended before its closing boundary")
            raise errors.BadRequest("malformed multipart boundary")
        del self._buffer[:2]

    def _read_whole_part(self, limit: int) -> bytes:
        out = bytearray()
        while True:
            piece = self.read_part(READ_SIZE)
            if not piece:
                return bytes(out)
            out += piece
            if len(out) > limit:
                raise errors.RequestTooLarge("form fields are too large", limit=self._max_fields)

    def _headers(self) -> dict[str, str]:
        self._fill(MAX_HEADER_BYTES)
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if self._eof:
                raise FormCutOff("the form ended inside a part's headers")
            raise errors.BadRequest("multipart part headers are too long")
        block = bytes(self._buffer[:end])
        del self._buffer[:end + 4]
        headers = {}
        for line in block.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return headers

    # --- the form ------------------------------------------------------------------------------------

    def read_fields(self) -> dict[str, str]:
        """Every field before the file part (or all of them when there is none); sets `self.file`."""
        # skip the preamble up to the first boundary
        self._part_done = False
        while self.read_part(READ_SIZE):
            pass
        fields: dict[str, str] = {}
        used = 0
        while not self._closed:
            headers = self._headers()
            disposition = _params(";" + headers.get("content-disposition", "").partition(";")[2])
            name = disposition.get("name")
            if not name:
                raise errors.BadRequest("a multipart part has no name")
            self._part_done = False
            if name == FILE_FIELD:
                self.file = FilePart(self, disposition.get("filename") or "",
                                     headers.get("content-type") or "application/octet-stream")
                return fields
            value = self._read_whole_part(self._max_fields - used)
            used += len(value)
            fields[name] = value.decode("utf-8", "replace")
        return fields

    def finish(self) -> None:
        """After the file part was read to its end: it must have been the last part."""
        if self.file is not None and not self._closed:
            raise errors.BadRequest(f"the '{FILE_FIELD}' part must be the last part of the form")

