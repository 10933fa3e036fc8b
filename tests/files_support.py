"""Helpers of the file tests: a private S3 server (for tests that kill it) and apps wired to S3."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.http.app import build_state, create_app
from server.process.embedded import EmbeddedProcess, free_port, start_s3
from tests.fixtures_app import COMPANY_A, COMPANY_B, make_user
from tests.fixtures_processes import S3Endpoint
from tests.helpers import ApiClient

PART_SIZE = 5 * 1024 * 1024  # the S3 minimum: multipart tests stay small


@dataclass(frozen=True)
class PrivateS3(S3Endpoint):
    handle: EmbeddedProcess | None = None

    def kill(self) -> None:
        """Stops the server abruptly (SIGKILL), as a crash or a lost network would."""
        if self.handle.poll() is None:
            self.handle.process.kill()
            self.handle.process.wait(15)
        self.handle.stop()


def start_private_s3(folder: Path) -> PrivateS3:
    """A `weed mini` of the calling test's own; call kill() when done."""
    access_key, secret_key, bucket = "T" + secrets.token_hex(8).upper(), secrets.token_hex(20), "modelreg-private"
    handle = start_s3(folder / "data", free_port(), access_key, secret_key, bucket, folder / "weed.log")
    return PrivateS3(handle.address, access_key, secret_key, bucket, handle)


def s3_overrides(s3, bucket: str | None = None, part_size: int = PART_SIZE) -> dict:
    return {
        "s3.endpoint": s3.endpoint,
        "s3.access_key": s3.access_key,
        "s3.secret_key": s3.secret_key,
        "s3.bucket": bucket or s3.bucket,
        "s3.part_size": part_size,
        "s3.connect_timeout_sec": 2,
        "s3.read_timeout_sec": 10,
    }


def app_with_s3(app_config, registry, s3, **kwargs):
    for key, value in s3_overrides(s3, **kwargs).items():
        app_config.put(key, value)
    return create_app(app_config, build_state(app_config, registry))


# Fixtures shared by the file tests (conftest imports them): an app with object storage in a bucket of
# its own, and a user of each company.

@pytest.fixture
def bucket(db_name):
    return "t-" + db_name.replace("_", "-").lower()


@pytest.fixture
def files_app(app_config, registry, db, s3, bucket):
    app = app_with_s3(app_config, registry, s3, bucket=bucket)
    yield app
    app.modelreg_state.stores.db.client.close()


@pytest.fixture
def alice(files_app) -> ApiClient:
    return make_user(files_app, "alice", COMPANY_A, role="admin")


@pytest.fixture
def bob(files_app) -> ApiClient:
    return make_user(files_app, "bob", COMPANY_B)


def visible_objects(s3, bucket) -> list[str]:
    """Every object a client of the bucket can see."""
    return sorted(o.object_name for o in s3.client().list_objects(bucket, recursive=True))
