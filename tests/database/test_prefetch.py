"""database/query/prefetch.py: a cursor read ahead in a thread, a bounded number of batches at a time."""

from __future__ import annotations

import pytest

from database.query.prefetch import Prefetch


def _ids(batch: list) -> list[int]:
    return [doc["_id"] for doc in batch]


def test_every_document_arrives_in_order_in_batches(db):
    db["things"].insert_many([{"_id": i} for i in range(2345)])
    reader = Prefetch(db["things"].find({}, sort=[("_id", 1)], batch_size=300), _ids, depth=1, batch_size=100)
    assert reader.open()
    batches = list(reader.batches())  # depth 1: the reader waits on the writer for most of them
    assert [n for batch in batches for n in batch] == list(range(2345))
    assert {len(b) for b in batches[:-1]} == {100} and len(batches[-1]) == 45
    reader.close()
    assert not reader.thread.is_alive() and not reader.cursor.alive


def test_nothing_matching_starts_no_reader_and_closes_the_cursor(db):
    reader = Prefetch(db["things"].find({}), _ids)
    assert reader.open() is False
    assert reader.thread is None and not reader.cursor.alive and list(reader.batches()) == []


def test_closing_mid_stream_stops_the_reader_and_closes_the_cursor(db):
    db["things"].insert_many([{"_id": i} for i in range(5000)])
    reader = Prefetch(db["things"].find({}, batch_size=100), _ids, depth=2, batch_size=100)
    assert reader.open()
    assert len(next(reader.batches())) == 100
    reader.close()
    assert not reader.thread.is_alive() and not reader.cursor.alive


def test_a_failure_while_reading_ahead_reaches_the_consumer_after_the_whole_batches_read(db):
    db["things"].insert_many([{"_id": i} for i in range(250)])

    def failing_cursor():
        yield from db["things"].find({}, sort=[("_id", 1)])
        raise RuntimeError("the database went away")

    reader = Prefetch(failing_cursor(), _ids, batch_size=100)
    assert reader.open()
    got = []
    with pytest.raises(RuntimeError, match="went away"):
        for batch in reader.batches():
            got += batch
    assert got == list(range(200))  # the batch being filled when the cursor failed is dropped
    reader.close()
