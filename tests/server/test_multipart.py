"""server/http/multipart.py: the one multipart/form-data parser (the /files protocol and form bodies)."""

from __future__ import annotations

import io

import pytest

from server.http import multipart
from services import errors

BOUNDARY = "----multipart-test"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, bytes, dict], close: bool = True) -> bytes:
    out = b""
    for name, data, extra in parts:
        disposition = f'form-data; name="{name}"' + "".join(f'; {k}="{v}"' for k, v in extra.items() if k != "type")
        head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
        if "type" in extra:
            head += f"Content-Type: {extra['type']}\r\n"
        out += head.encode() + b"\r\n" + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def read_all(part, size: int = 1000) -> bytes:
    out = b""
    while piece := part.read(size):
        out += piece
    return out


def test_parts_stream_in_pieces_whatever_they_hold():
    tricky = b"x" * 5000 + f"\r\n--{BOUNDARY[:-1]}\r\n".encode() + b"y" * 3000  # a near-boundary inside
    raw = body(("/a/w.bin", tricky, {"filename": "/a/w.bin", "type": "image/png"}), ("%2Fb%20c.txt", b"", {}))
    got = [(multipart.file_name(p), p.content_type, read_all(p)) for p in
           multipart.parts(io.BytesIO(raw), CONTENT_TYPE, len(raw), read_chunk=4096)]
    assert got == [("/a/w.bin", "image/png", tricky), ("/b c.txt", "text/plain", b"")]  # RFC 7578 default


def test_a_part_cut_off_before_its_boundary_raises_an_os_error():
    raw = body(("f", b"z" * 10_000, {"filename": "f"}))[:6000]
    part = next(multipart.parts(io.BytesIO(raw), CONTENT_TYPE, len(raw)))
    with pytest.raises(multipart.FormCutOff):
        read_all(part)


@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data", ""])
def test_not_a_multipart_body_with_a_boundary_is_400(content_type):
    with pytest.raises(errors.BadRequest):
        next(multipart.parts(io.BytesIO(b"--x--\r\n"), content_type, 7))


def test_a_broken_structure_is_400():
    raw = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"".encode()  # headers never end
    with pytest.raises(errors.BadRequest, match="malformed multipart"):
        next(multipart.parts(io.BytesIO(raw), CONTENT_TYPE, len(raw)))


def test_a_form_gives_its_fields_then_streams_its_file():
    raw = body(("model", b"m1", {}), ("data", '{"k": "\u00e9"}'.encode(), {}),
               ("file", b"BYTES", {"filename": "p.bin"}))
    form = multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 1000)
    assert form.read_fields() == {"model": "m1", "data": '{"k": "\u00e9"}'}
    assert (form.file.filename, form.file.content_type) == ("p.bin", "application/octet-stream")
    assert read_all(form.file) == b"BYTES"
    form.finish()


def test_a_form_without_a_file_is_all_fields():
    raw = body(("model", b"m1", {}), ("site", b"north", {}))
    form = multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 1000)
    assert form.read_fields() == {"model": "m1", "site": "north"} and form.file is None


def test_a_form_field_that_is_not_utf8_is_refused_naming_it():
    raw = body(("model", b"m1", {}), ("site", b"\xff\xfe", {}))
    form = multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 1000)
    with pytest.raises(errors.ValidationError, match="'site'. not UTF-8 text"):
        form.read_fields()


def test_the_file_part_must_be_the_last():
    raw = body(("file", b"BYTES", {"filename": "p.bin"}), ("site", b"after", {}))
    form = multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 1000)
    assert form.read_fields() == {} and read_all(form.file) == b"BYTES"
    with pytest.raises(errors.BadRequest, match="last part"):
        form.finish()


@pytest.mark.parametrize("fields", [[("a", b"v" * 101, {})], [("a", b"v" * 60, {}), ("b", b"v" * 60, {})],
                                    [("n" * 120, b"", {})]], ids=["one", "together", "names"])
def test_form_fields_are_bounded_together(fields):
    raw = body(*fields, ("file", b"x" * 100_000, {"filename": "f"}))
    form = multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 100)
    with pytest.raises(errors.RequestTooLarge):
        form.read_fields()


def test_a_form_part_without_a_name_is_400():
    raw = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--{BOUNDARY}--\r\n".encode()
    with pytest.raises(errors.BadRequest, match="no name"):
        multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 100).read_fields()


def test_a_form_cut_off_among_its_fields_is_400():
    raw = body(("model", b"m" * 500, {}))[:100]
    with pytest.raises(errors.BadRequest):
        multipart.Form(io.BytesIO(raw), CONTENT_TYPE, len(raw), 1000).read_fields()
