"""server/http/ndjson.py: a DocumentStream framed as NDJSON, a failure after the first line logged."""

from __future__ import annotations

import json
import logging

from database.query.prefetch import Prefetch
from server.http import ndjson
from services.call import DocumentStream


def _docs(batch: list) -> list[dict]:
    return [{"id": doc["_id"], "n": doc["n"]} for doc in batch]


def test_lines_are_the_documents_and_close_runs_once(db):
    db["things"].insert_many([{"_id": f"d{i:04d}", "n": i} for i in range(1200)])
    closed = []
    stream = DocumentStream(Prefetch(db["things"].find({}, sort=[("_id", 1)]), _docs, batch_size=500))
    stream.close = lambda: closed.append(stream.documents.close())
    result = ndjson.reply(stream, {"X-ClearML-Trx": "t"}, "t", 10)
    chunks = list(result.chunks)
    assert len(chunks) == 3  # one write a batch
    lines = b"".join(chunks).splitlines()
    assert [json.loads(line) for line in lines] == [{"id": f"d{i:04d}", "n": i} for i in range(1200)]
    assert result.content_type == "application/x-ndjson" and result.content_length is None
    result.close()
    assert closed == [None] and not stream.documents.cursor.alive


def test_nothing_matching_is_an_empty_body_of_length_zero(db):
    result = ndjson.reply(DocumentStream(Prefetch(db["things"].find({}), _docs)), {}, "t", 10)
    assert list(result.chunks) == [] and result.content_length == 0


def test_a_failure_mid_stream_ends_the_body_and_is_logged_with_the_trx(db, caplog):
    db["things"].insert_many([{"_id": f"d{i}", "n": i} for i in range(3)])

    def failing_cursor():
        yield from db["things"].find({}, sort=[("_id", 1)])
        raise RuntimeError("the database went away")

    result = ndjson.reply(DocumentStream(Prefetch(failing_cursor(), _docs, batch_size=2)), {}, "trx-42", 10)
    with caplog.at_level(logging.ERROR, logger="modelreg.ndjson"):
        body = b"".join(result.chunks)
    assert body.count(b"\n") == 2  # the first batch was sent; the failure ended the body after it
    assert "trx-42" in caplog.text and "went away" in caplog.text
    result.close()
