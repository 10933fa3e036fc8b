"""database.blobstore against a real S3 server (weed mini): streamed, verified puts; ranged gets; failures."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest
import requests
import urllib3

from database.errors import STORAGE_UNAVAILABLE
from database.storage.blobstore import (
    MAX_PARTS,
    BlobIntegrityError,
    BlobNotFound,
    BlobRangeError,
    BlobSourceError,
    BlobStore,
    BlobTooLarge,
    is_loopback,
)
from database.storage.s3_requests import S3RequestError, content_md5
from server.config import load_config
from server.process.embedded import free_port
from tests.files_support import PART_SIZE, s3_overrides
from tests.helpers import default_config

SIZES = {"empty": 0, "small": 1000, "one-part": PART_SIZE, "two-parts": 2 * PART_SIZE,
         "multipart": 3 * PART_SIZE + 12345}



class Trickle(io.RawIOBase):
    """A request body as a socket gives it: short reads of at most `step` bytes; raises after `fail_at`."""

    def __init__(self, data: bytes, step: int = 65536, fail_at: int | None = None):
        self.data, self.pos, self.step, self.fail_at = data, 0, step, fail_at

    def read(self, size=-1):
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise ConnectionResetError("client went away")
        size = self.step if size is None or size < 0 else min(size, self.step)
        piece = self.data[self.pos:self.pos + size]
        self.pos += len(piece)
        return piece


def make_store(s3, bucket, **settings) -> BlobStore:
    overrides = {**s3_overrides(s3, bucket=bucket), **{f"s3.{key}": value for key, value in settings.items()}}
    return BlobStore.from_config(default_config(overrides))


@pytest.fixture
def store(s3, bucket):
    return make_store(s3, bucket)


def visible(store) -> list[str]:
    return sorted(o.object_name for o in store.client.list_objects(store.bucket, recursive=True))


def pending_uploads(store) -> list:
    return store.client._list_multipart_uploads(store.bucket).uploads


def read_all(store, key, byte_range=None) -> bytes:
    stream = store.get(key, byte_range)
    try:
        return b"".join(stream.chunks)
    finally:
        stream.close()


def test_from_config_creates_the_bucket(store):
    assert store.client.bucket_exists(store.bucket)
    store.ensure_bucket()  # idempotent


@pytest.mark.parametrize("known_length", [True, False], ids=["known-length", "unknown-length"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_put_get_round_trip(store, size, known_length):
    data = os.urandom(size)
    blob = store.put("k/obj.bin", Trickle(data), size if known_length else None, "application/x-test")
    assert (blob.size, blob.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert read_all(store, "k/obj.bin") == data
    info = store.stat("k/obj.bin")
    assert (info.size, info.etag, info.content_type) == (size, blob.etag, "application/x-test")
    stream = store.get("k/obj.bin")
    assert (stream.length, stream.total_size, stream.partial) == (size, size, False)
    stream.close()


@pytest.mark.parametrize("parts_in_flight", [1, 2, 5])
@pytest.mark.parametrize("known_length", [True, False], ids=["known-length", "unknown-length"])
def test_parts_sent_at_once_are_stored_in_order(s3, bucket, parts_in_flight, known_length):
    blobs = make_store(s3, bucket, parts_in_flight=parts_in_flight)
    data = os.urandom(7 * PART_SIZE + 99)  # more parts than are ever in flight
    blob = blobs.put("k/ordered.bin", Trickle(data), len(data) if known_length else None)
    assert (blob.size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert read_all(blobs, "k/ordered.bin") == data
    assert blob.etag.endswith("-8")  # a multipart object of 8 parts


@pytest.mark.parametrize("endpoint, loopback", [
    ("127.0.0.1:8333", True), ("localhost:9000", True), ("[::1]:9000", True), ("127.0.0.2", True),
    ("10.0.0.7:9000", False), ("minio:9000", False), ("s3.amazonaws.com", False), ("[2001:db8::1]:9000", False),
])
def test_loopback_endpoints(endpoint, loopback):
    assert is_loopback(endpoint) is loopback


class RecordingPool(urllib3.PoolManager):
    """A connection pool that notes the method, URL and headers of every request it sends."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, dict]] = []

    def urlopen(self, method, url, redirect=True, **kw):
        self.sent.append((method, url, dict(kw.get("headers") or {})))
        return super().urlopen(method, url, redirect=redirect, **kw)


@pytest.mark.parametrize("sign_payload, checksums", [("auto", False), ("false", False), ("true", True)])
def test_payload_protection(s3, bucket, sign_payload, checksums):
    """Uploads are presigned requests, whose bodies are never hashed for the signature. Where payload
    signing is asked for (always with "true"; with "auto" off loopback, and the test server is on it),
    each body carries its Content-MD5 instead; either way the store checks the signature and stores
    the bytes."""
    configured = make_store(s3, bucket, sign_payload=sign_payload)
    assert configured.requests.checksums is checksums
    pool = RecordingPool()
    blobs = BlobStore(configured.client, bucket, part_size=PART_SIZE, http=pool, checksums=checksums)
    for key, size in (("k/one.bin", 1000), ("k/parts.bin", 2 * PART_SIZE + 7)):
        data = os.urandom(size)
        blobs.put(key, Trickle(data), None)
        assert read_all(blobs, key) == data
    puts = [(url, headers) for method, url, headers in pool.sent if method == "PUT"]
    assert len(puts) == 4  # the single PUT and three parts
    assert all("X-Amz-Signature=" in url and ("Content-MD5" in headers) is checksums for url, headers in puts)


@pytest.mark.parametrize("sign_payload, endpoint, secure, checksums", [
    ("auto", "192.0.2.1:9000", False, True), ("auto", "192.0.2.1:9000", True, False),
    ("true", "127.0.0.1:9000", True, False), ("false", "192.0.2.1:9000", False, False)])
def test_payload_protection_follows_the_endpoint(sign_payload, endpoint, secure, checksums):
    """Off loopback over plain HTTP, "auto" protects bodies; TLS protects them itself. The endpoints
    answer nothing (a documentation address): the store is built all the same, as at the app's start."""
    config = load_config(overrides={"s3.endpoint": endpoint, "s3.secure": secure, "s3.sign_payload": sign_payload,
                                    "s3.access_key": "k", "s3.secret_key": "s", "s3.connect_timeout_sec": 0.2},
                         env={})
    assert BlobStore.from_config(config).requests.checksums is checksums


def test_a_body_damaged_on_the_way_is_refused_by_the_store(store):
    with pytest.raises(S3RequestError) as refused:
        store.requests.put_object("k/damaged.bin", b"what arrived", {"Content-MD5": content_md5(b"what was sent")})
    assert refused.value.code == "BadDigest" and isinstance(refused.value, STORAGE_UNAVAILABLE)
    assert visible(store) == []


def test_a_bad_sign_payload_setting_is_refused(s3, bucket):
    with pytest.raises(ValueError, match="sign_payload"):
        make_store(s3, bucket, sign_payload="sometimes")


def test_part_size_grows_to_fit_the_part_limit(store):
    limit = store.part_size * MAX_PARTS
    assert store.part_size_for(None) == store.part_size_for(limit) == store.part_size
    for size in (limit + 1, 3 * limit, 200 * 1024**3):
        grown = store.part_size_for(size)
        assert grown > store.part_size and grown % (1024 * 1024) == 0 and grown * MAX_PARTS >= size


@pytest.mark.parametrize("known_length", [True, False], ids=["known-length", "unknown-length"])
def test_a_body_beyond_the_part_limit_stores_nothing(s3, store, known_length):
    """A body of unknown length cannot choose its part size up front: past the limit it is refused and
    the upload aborted. With its length known, larger parts are chosen and it is stored."""
    limited = BlobStore(store.client, store.bucket, part_size=PART_SIZE, max_parts=2)
    data = os.urandom(3 * PART_SIZE)
    if known_length:
        assert limited.put("k/big.bin", Trickle(data), len(data)).size == len(data)
        assert read_all(limited, "k/big.bin") == data
        return
    with pytest.raises(BlobTooLarge, match="more than 2 parts"):
        limited.put("k/big.bin", Trickle(data), None)
    assert visible(store) == [] and pending_uploads(store) == []
    assert limited.put("k/big.bin", Trickle(data), None, size_hint=len(data)).size == len(data)


def test_matching_sha256_is_accepted(store):
    data = os.urandom(PART_SIZE + 1)
    blob = store.put("k/ok.bin", Trickle(data), len(data), sha256=hashlib.sha256(data).hexdigest().upper())
    assert blob.size == len(data)


@pytest.mark.parametrize("known_length", [True, False], ids=["known-length", "unknown-length"])
@pytest.mark.parametrize("size", [0, 1000, 2 * PART_SIZE + 1], ids=["empty", "small", "multipart"])
def test_a_wrong_sha256_stores_nothing(store, size, known_length):
    data = os.urandom(size)
    with pytest.raises(BlobIntegrityError, match="sha256 mismatch"):
        store.put("k/bad.bin", Trickle(data), size if known_length else None, sha256="0" * 64)
    assert visible(store) == [] and pending_uploads(store) == []


@pytest.mark.parametrize("size", [1000, 2 * PART_SIZE + 1], ids=["small", "multipart"])
def test_a_body_shorter_than_declared_stores_nothing(store, size):
    data = os.urandom(size)
    with pytest.raises(BlobIntegrityError, match="ended before its declared length"):
        store.put("k/short.bin", Trickle(data), size + 10)
    assert visible(store) == [] and pending_uploads(store) == []


def test_a_body_longer_than_declared_empty_is_refused(store):
    with pytest.raises(BlobIntegrityError, match="longer than its declared length"):
        store.put("k/long.bin", Trickle(b"surprise"), 0)
    assert visible(store) == []


@pytest.mark.parametrize("known_length", [True, False], ids=["known-length", "unknown-length"])
@pytest.mark.parametrize("fail_at", [100, PART_SIZE + 100], ids=["first-part", "second-part"])
def test_a_stream_that_breaks_stores_nothing(store, fail_at, known_length):
    data = os.urandom(3 * PART_SIZE)
    with pytest.raises(BlobSourceError, match="could not be read"):
        store.put("k/cut.bin", Trickle(data, fail_at=fail_at), len(data) if known_length else None)
    assert visible(store) == [] and pending_uploads(store) == []


def test_a_failed_replacement_keeps_the_old_object(store):
    store.put("k/v.bin", io.BytesIO(b"version 1"), 9)
    with pytest.raises(BlobSourceError):
        store.put("k/v.bin", Trickle(os.urandom(2 * PART_SIZE), fail_at=PART_SIZE + 5), None)
    assert read_all(store, "k/v.bin") == b"version 1"


@pytest.mark.parametrize(
    "byte_range, expected",
    [((0, 9), slice(0, 10)), ((5, None), slice(5, 100)), ((-3, None), slice(97, 100)), ((90, 1000), slice(90, 100))],
)
def test_ranged_get(store, byte_range, expected):
    data = bytes(range(100))
    store.put("k/r.bin", io.BytesIO(data), 100)
    stream = store.get("k/r.bin", byte_range)
    got = b"".join(stream.chunks)
    stream.close()
    assert got == data[expected]
    assert (stream.partial, stream.offset, stream.length, stream.total_size) == (True, expected.start, len(got), 100)


def test_missing_objects_and_bad_ranges(store):
    with pytest.raises(BlobNotFound):
        store.get("k/none")
    assert store.stat("k/none") is None
    assert store.delete("k/none") is False
    store.put("k/r.bin", io.BytesIO(b"abc"), 3)
    with pytest.raises(BlobRangeError):
        store.get("k/r.bin", (3, None))


def test_delete(store):
    store.put("k/d.bin", io.BytesIO(b"abc"), 3)
    assert store.delete("k/d.bin") is True
    assert store.stat("k/d.bin") is None


def test_closing_a_download_early_releases_the_connection(store):
    data = os.urandom(3 * 1024 * 1024)
    store.put("k/big.bin", io.BytesIO(data), len(data))
    for _ in range(30):  # more than the pool holds: abandoned responses must not leak connections
        stream = store.get("k/big.bin")
        next(iter(stream.chunks))
        stream.close()
    assert read_all(store, "k/big.bin") == data


def test_presigned_url_serves_the_object_without_credentials(store):
    data = os.urandom(2048)
    store.put("k/p.bin", io.BytesIO(data), len(data))
    url = store.presigned_url("k/p.bin", 60, 'attachment; filename="weights.pt"')
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.content == data
    assert "weights.pt" in got.headers.get("Content-Disposition", "")
    tampered = url.replace("k/p.bin", "k/other.bin")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_an_unreachable_store_raises_storage_errors_quickly():
    port = free_port()  # nothing listens there
    config = load_config(overrides={"s3.endpoint": f"127.0.0.1:{port}", "s3.access_key": "k", "s3.secret_key": "s",
                                    "s3.connect_timeout_sec": 1}, env={})
    started = time.monotonic()
    store = BlobStore.from_config(config)  # does not fail the app's start
    for action in (lambda: store.stat("x"), lambda: store.get("x"),
                   lambda: store.put("x", io.BytesIO(b"abc"), 3), lambda: store.delete("x")):
        with pytest.raises(STORAGE_UNAVAILABLE):
            action()
    assert time.monotonic() - started < 30


def test_wrong_credentials_are_storage_errors(s3):
    config = load_config(overrides={**s3_overrides(s3), "s3.secret_key": "wrong"}, env={})
    store = BlobStore(BlobStore.from_config(config).client, s3.bucket)
    with pytest.raises(STORAGE_UNAVAILABLE):
        store.stat("x")
