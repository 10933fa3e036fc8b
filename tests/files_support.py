"""Helpers of the file tests: a private S3 server (for tests that kill it) and apps wired to S3."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from server.app import build_state, create_app
from server.embedded import EmbeddedProcess, free_port, start_s3
from tests.fixtures_processes import S3Endpoint

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
