"""NDJSON replies: a handler's DocumentStream (services/call.py) sent as one JSON object a line, the
envelope's meta in X-ClearML-* headers (there is no envelope to carry it).

The first document is read before the reply starts (under mongo.stream_start_sec), so a bad query still
answers with an error envelope. After that the status is sent: a failure while streaming is logged with
the call's trx and ends the body early. The documents are closed when the response ends or the client
goes away (the WSGI server closes the body iterator), which also gives back the call's slots.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from server.http.json_text import encode
from services import failures
from services.call import DocumentStream, StreamResult

log = logging.getLogger("modelreg.ndjson")

CONTENT_TYPE = "application/x-ndjson"
ACCEPTED = ("application/json-lines", "application/x-ndjson", "application/jsonl")  # what Accept may name


def line(document: dict) -> bytes:
    """One document as one line: the envelope's JSON (server/http/json_text.py), then \\n."""
    return encode(document) + b"\n"


def reply(stream: DocumentStream, headers: dict[str, str], trx: str, start_sec: float | None) -> StreamResult:
    """The stream as the response body; raises (the stream closed) when its first read fails."""
    documents = stream.documents
    try:
        with failures.deadline(start_sec):
            matched = documents.open()
    except BaseException:
        stream.close()
        raise
    if not matched:
        return StreamResult(chunks=[], content_length=0, content_type=CONTENT_TYPE, headers=headers,
                            close=stream.close)
    return StreamResult(chunks=_lines(documents, trx), content_length=None, content_type=CONTENT_TYPE,
                        headers=headers, close=stream.close)


def _lines(documents, trx: str) -> Iterator[bytes]:
    # a batch is joined into one write: fewer, larger writes to the socket
    try:
        for batch in documents.batches():
            yield b"".join([line(doc) for doc in batch])
    except Exception as exc:  # the status is sent: all that is left is to end the body and say why
        log.error("trx %s: stream stopped: %s", trx, exc)
