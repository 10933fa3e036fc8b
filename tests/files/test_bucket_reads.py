"""The reader of objects from other buckets (database/storage/bucket_reads.py) stops at its size cap
and its deadline while reading, whatever the object's stated size was."""

from __future__ import annotations

import io
import time

import pytest

from database.storage.bucket_reads import BucketReadFailed, BucketReadRefused, LimitedReader


def test_reading_past_the_cap_is_refused():
    reader = LimitedReader(io.BytesIO(b"x" * 10), 8, time.monotonic() + 60)
    assert reader.read(4) == b"xxxx"
    with pytest.raises(BucketReadRefused, match="larger than the import size limit"):
        reader.read()


def test_reading_past_the_deadline_fails():
    reader = LimitedReader(io.BytesIO(b"x" * 10), 100, time.monotonic() - 1)
    with pytest.raises(BucketReadFailed, match="total time limit"):
        reader.read(1)
