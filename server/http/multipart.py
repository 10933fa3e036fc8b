"""multipart/form-data request bodies (RFC 7578), read as they arrive: the one parser of the ClearML /files
protocol (server/http/files_route.py, every part a file) and of the form bodies of endpoints that declare
`form_body` (`Form`: the fields before the `file` part are the request, the file part streams to the
handler and must be the last part).

Built on falcon's MultipartFormHandler, because it serves all three needs: each part is a delimited stream
over one buffered reader (compiled), so a file part is read in pieces straight from the socket and never
held whole; part headers are bounded by the parser, and field values are bytes we read under our own
bound, and refuse unless they are UTF-8 (request_data.text_of); the values then go through
request_data.parse_form_fields, the checks of a JSON body. Added here:
a part whose body ends before the next boundary ends quietly in falcon, which would store a cut-off file,
so `Part.read` raises `FormCutOff` then; falcon's parse errors become our 400; a form's file part without
a Content-Type is application/octet-stream (falcon reports RFC 7578's text/plain).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from urllib.parse import unquote

import falcon
from falcon.errors import DelimiterError
from falcon.media.multipart import MultipartFormHandler, MultipartParseError, MultipartParseOptions
from falcon.util import BufferedReader
from falcon.util.mediatypes import parse_header

from server.http import request_data
from server.http.backpressure import StallAwareStream
from services import errors

# gunicorn's body reader copies whatever one recv() returned beyond a read on every read: reads
# smaller than a recv() (up to 1 MiB) cost quadratic copying, 64 KiB reads doubled the worker's CPU.
READ_CHUNK = 1024 * 1024
FORM_READ_CHUNK = 64 * 1024  # the reads form bodies were always read in (record files, a few MB at most)
UNBOUNDED = 2**62  # a chunked body (gunicorn decodes it on wsgi.input) is read to its end
FILE_FIELD = "file"
PARSE_ERRORS = (MultipartParseError, falcon.HTTPError, DelimiterError)

_OPTIONS = MultipartParseOptions()
_OPTIONS.max_body_part_count = 0  # not limited: /files streams each part; a form's fields are bounded by size
_HANDLER = MultipartFormHandler(_OPTIONS)


class FormCutOff(OSError):
    """The body ended inside a part (the client went away or sent a truncated form). An OSError, so the
    blob store treats it like any other unreadable client stream: the upload is abandoned."""


def malformed(exc: Exception) -> errors.ApiError:
    return errors.BadRequest("malformed multipart body",
                             reason=getattr(exc, "description", None) or str(exc) or type(exc).__name__)


class Part:
    """One part: its name, file name and content type (text/plain when the part declares none), and its bytes
    as a file-like `read(n)` whose end is the part's end."""

    def __init__(self, part, body: BufferedReader, delimiter: bytes):
        self._stream = part.stream
        self._body = body
        self._delimiter = delimiter
        self.name = part.name or ""
        self.filename = part.filename or ""
        # falcon answers RFC 7578's default, text/plain, for a part that declares no type
        self.content_type = part.content_type

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._stream.read(size)
            if not data and size != 0 and self._body.peek(len(self._delimiter)) != self._delimiter:
                raise FormCutOff("the multipart body ended inside a part")
        except PARSE_ERRORS as exc:
            raise malformed(exc) from exc
        return data


def _file_type(part: Part) -> str:
    """A form's file part: its declared type, but the multipart default text/plain (what an undeclared
    part reads as) only for a file whose name says it is text; weights are binary."""
    if part.content_type.split(";")[0].strip().lower() != "text/plain":
        return part.content_type
    guessed = mimetypes.guess_type(part.filename)[0] or ""
    return part.content_type if guessed.startswith("text/") else "application/octet-stream"


def parts(stream, content_type: str | None, content_length: int | None,
          read_chunk: int = READ_CHUNK) -> Iterator[Part]:
    """Each part in turn, read from `stream` (a request body); read a part, or not, before asking for the
    next. A body that is not multipart/form-data with a boundary, or breaks its structure, is a 400."""
    media_type, options = parse_header(content_type or "")
    boundary = options.get("boundary", "").rstrip().encode("latin-1")
    if media_type.lower() != "multipart/form-data" or not boundary:
        raise errors.BadRequest("expected a multipart/form-data body with a boundary")
    delimiter = b"\r\n--" + boundary
    stream = stream if isinstance(stream, StallAwareStream) else StallAwareStream(stream)
    body = BufferedReader(stream.read, content_length if content_length is not None else UNBOUNDED, read_chunk)
    try:
        form = _HANDLER.deserialize(body, content_type, content_length)
        for part in form:
            yield Part(part, body, delimiter)
    except PARSE_ERRORS as exc:
        raise malformed(exc) from exc


def file_name(part: Part) -> str:
    """The stored name a /files part stands for (the ClearML SDK sends the object path, URL-quoted)."""
    return unquote(part.name or part.filename)


class Form:
    """A form body of an endpoint that declares `form_body`."""

    def __init__(self, stream, content_type: str | None, content_length: int | None, max_fields_bytes: int):
        self._parts = parts(stream, content_type, content_length, FORM_READ_CHUNK)
        self._max_fields = max_fields_bytes
        self.file: Part | None = None

    def read_fields(self) -> dict[str, str]:
        """Every field before the `file` part (all of them when there is none), as text; sets `self.file`.
        Names and values together are bounded by `max_fields_bytes` (413 beyond)."""
        fields: dict[str, str] = {}
        used = 0
        try:
            for part in self._parts:
                if not part.name:
                    raise errors.BadRequest("a multipart part has no name")
                if part.name == FILE_FIELD:
                    part.content_type = _file_type(part)
                    self.file = part
                    break
                used += len(part.name)
                if used > self._max_fields:
                    raise _fields_too_large(self._max_fields)
                value = _read_value(part, self._max_fields - used, self._max_fields)
                used += len(value)
                fields[part.name] = request_data.text_of(part.name, value)
        except OSError as exc:  # the client went away before the fields were all read
            raise errors.BadRequest(f"the form could not be read: {exc}") from None
        return fields

    def finish(self) -> None:
        """After the file part was read to its end: it must have been the last part."""
        if self.file is not None and next(self._parts, None) is not None:
            raise errors.BadRequest(f"the '{FILE_FIELD}' part must be the last part of the form")


def _read_value(part: Part, limit: int, total: int) -> bytes:
    value = bytearray()
    while True:
        piece = part.read(min(FORM_READ_CHUNK, limit + 1 - len(value)))
        if not piece:
            return bytes(value)
        value += piece
        if len(value) > limit:
            raise _fields_too_large(total)


def _fields_too_large(limit: int) -> errors.ApiError:
    return errors.RequestTooLarge("form fields are too large", limit=limit)
