"""database/storage/s3_requests.py against a real S3 server (weed mini): each request the store sends
itself, signed through minio's public presigning, and the store's refusals as S3RequestError."""

from __future__ import annotations

import os

import pytest

from database.errors import STORAGE_UNAVAILABLE
from database.storage.blobstore import BlobStore
from database.storage.s3_requests import S3RequestError
from tests.files_support import PART_SIZE, s3_overrides
from tests.helpers import default_config


@pytest.fixture
def requests_(s3, bucket):
    store = BlobStore.from_config(default_config(s3_overrides(s3, bucket=bucket)))
    return store.requests


def test_put_object_keeps_the_content_type_and_answers_the_etag(requests_):
    etag = requests_.put_object("k/a.txt", b"hello", {"Content-Type": "text/plain"})
    stat = requests_.client.stat_object(requests_.bucket, "k/a.txt")
    assert etag == stat.etag.strip('"') == "5d41402abc4b2a76b9719d911017c592"  # md5 of a single PUT
    assert stat.content_type == "text/plain" and stat.size == 5


def test_a_multipart_upload_joins_parts_sent_in_any_order(requests_):
    first, last = os.urandom(PART_SIZE), os.urandom(1234)
    upload = requests_.create_multipart("k/joined.bin", {"Content-Type": "application/x-test"})
    last_etag = requests_.upload_part("k/joined.bin", upload, 2, iter([last[:1000], last[1000:]]), len(last))
    first_etag = requests_.upload_part("k/joined.bin", upload, 1, memoryview(first))
    assert requests_.list_parts("k/joined.bin", upload) == {1: (first_etag, PART_SIZE), 2: (last_etag, 1234)}
    etag = requests_.complete_multipart("k/joined.bin", upload, [(2, last_etag), (1, first_etag)])
    assert etag.endswith("-2")
    stored = requests_.client.get_object(requests_.bucket, "k/joined.bin")
    try:
        assert stored.read() == first + last
    finally:
        stored.close()
        stored.release_conn()


def test_listing_parts_reads_every_page(requests_):
    upload = requests_.create_multipart("k/paged.bin", {})
    etags = {n: requests_.upload_part("k/paged.bin", upload, n, bytes([n]) * 10) for n in range(1, 6)}
    assert requests_.list_parts("k/paged.bin", upload, page_size=2) == {n: (e, 10) for n, e in etags.items()}
    requests_.abort_multipart("k/paged.bin", upload)


def test_an_aborted_upload_is_refused_with_the_stores_code(requests_):
    upload = requests_.create_multipart("k/gone.bin", {})
    etag = requests_.upload_part("k/gone.bin", upload, 1, b"x" * 10)
    requests_.abort_multipart("k/gone.bin", upload)
    for request in (lambda: requests_.list_parts("k/gone.bin", upload),
                    lambda: requests_.upload_part("k/gone.bin", upload, 2, b"y"),
                    lambda: requests_.complete_multipart("k/gone.bin", upload, [(1, etag)])):
        with pytest.raises(S3RequestError) as refused:
            request()
        assert refused.value.code == "NoSuchUpload" and refused.value.status == 404
    assert [o.object_name for o in requests_.client.list_objects(requests_.bucket, recursive=True)] == []


def test_wrong_credentials_are_storage_errors(s3, bucket):
    store = BlobStore.from_config(default_config({**s3_overrides(s3, bucket=bucket), "s3.secret_key": "wrong"}))
    with pytest.raises(STORAGE_UNAVAILABLE) as refused:
        store.requests.put_object("k/x.bin", b"1", {})
    assert isinstance(refused.value, S3RequestError) and refused.value.status == 403
