"""Session fixtures that start real dependencies as subprocesses on free loopback ports (server.embedded),
or use the servers named by TEST_MONGO_URI / TEST_S3_ENDPOINT. Under pytest-xdist every worker starts
its own. Each is lazy: only a session that uses the fixture pays for its start."""

from __future__ import annotations

import os
import secrets
import uuid
from dataclasses import dataclass

import pytest
from minio import Minio

from server.process.embedded import VENV_BIN, S3Settings, free_port, start_mongo, start_s3

__all__ = ["VENV_BIN", "S3Endpoint", "free_port", "mongo_uri", "db_name", "db", "s3"]


@dataclass(frozen=True)
class S3Endpoint(S3Settings):
    """endpoint (host:port), access_key, secret_key, bucket; `client()` for tests that look inside."""

    def client(self) -> Minio:
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    given = os.environ.get("TEST_MONGO_URI")
    if given:
        yield given
        return
    folder = tmp_path_factory.mktemp("mongo")
    server = start_mongo(folder / "db", free_port(), folder / "secantusd.log")
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory) -> S3Endpoint:
    """An S3 endpoint with a bucket: `weed mini` on free ports, or TEST_S3_ENDPOINT with TEST_S3_ACCESS_KEY,
    TEST_S3_SECRET_KEY and TEST_S3_BUCKET (default modelreg-test; the tests create it if missing)."""
    given = os.environ.get("TEST_S3_ENDPOINT")
    if given:
        yield S3Endpoint(given, os.environ.get("TEST_S3_ACCESS_KEY", ""), os.environ.get("TEST_S3_SECRET_KEY", ""),
                         os.environ.get("TEST_S3_BUCKET", "modelreg-test"))
        return
    folder = tmp_path_factory.mktemp("s3")
    access_key, secret_key, bucket = "TEST" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24), "modelreg-test"
    server = start_s3(folder / "data", free_port(), access_key, secret_key, bucket, folder / "weed.log")
    try:
        yield S3Endpoint(server.address, access_key, secret_key, bucket)
    finally:
        server.stop()


@pytest.fixture
def db_name():
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def db(mongo_uri, db_name):
    """A fresh database handle (tz-aware, as the app uses), dropped afterwards."""
    from database.connection import connect

    database = connect(mongo_uri, db_name)
    yield database
    database.client.drop_database(db_name)
    database.client.close()
