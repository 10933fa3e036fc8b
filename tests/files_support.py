"""Helpers of the file tests: the S3 endpoint the `s3` fixture gives, a private S3 server (for tests that
kill it), apps wired to S3 and what a bucket holds."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from minio import Minio

from server.http.app import build_state, create_app
from server.process.embedded import EmbeddedProcess, S3Settings, free_port, start_s3

PART_SIZE = 5 * 1024 * 1024  # the S3 minimum: multipart tests stay small


@dataclass(frozen=True)
class S3Endpoint(S3Settings):
    """endpoint (host:port), access_key, secret_key, bucket; `client()` for tests that look inside."""

    def client(self) -> Minio:
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)


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


def visible_objects(s3, bucket) -> list[str]:
    """Every object a client of the bucket can see."""
    return sorted(o.object_name for o in s3.client().list_objects(bucket, recursive=True))


def empty_bucket(client: Minio, bucket: str) -> None:
    """Removes every object of `bucket`, and the parts of uploads never completed, if it exists."""
    if not client.bucket_exists(bucket):
        return
    for obj in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, obj.object_name)
    for upload in client._list_multipart_uploads(bucket).uploads:
        client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
