"""Helpers of the file tests: a private `weed mini` (for tests that stop it) and apps wired to S3."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from server.app import build_state, create_app
from tests.fixtures_processes import VENV_BIN, free_port

PART_SIZE = 5 * 1024 * 1024  # the S3 minimum: multipart tests stay small


@dataclass
class S3Server:
    endpoint: str  # host:port
    access_key: str
    secret_key: str
    bucket: str
    process: subprocess.Popen | None = None

    def client(self) -> Minio:
        http = urllib3.PoolManager(retries=urllib3.Retry(total=0), timeout=urllib3.Timeout(connect=2, read=30))
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False,
                     http_client=http)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"weed mini did not listen in time:\n{log.read_text()[-3000:]}")


def start_weed(folder: Path) -> S3Server:
    """A `weed mini` on free loopback ports with its S3 API signed by a fresh key pair."""
    binary = shutil.which("weed", path=str(VENV_BIN)) or "weed"
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "webdav.port", "debug.port",
    )}
    access_key, secret_key = "T" + secrets.token_hex(8).upper(), secrets.token_hex(20)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    log = folder / "weed.log"
    args = [binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
            "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *(f"-{name}={port}" for name, port in ports.items())]
    env = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key, "PATH": "/usr/bin:/bin"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = S3Server(f"127.0.0.1:{ports['s3.port']}", access_key, secret_key, "modelreg-test", proc)
    try:
        _wait_for_port(ports["s3.port"], proc, log)
        _wait_until_s3_answers(server, proc, log)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_s3_answers(server: S3Server, proc, log: Path, timeout: float = 60) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.bucket_exists(server.bucket)
            return
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"weed mini S3 did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.3)


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


@pytest.fixture(scope="session")
def files_s3(request, tmp_path_factory):
    """The session's S3 server: the shared `s3` fixture when there is one, else a private weed mini."""
    try:
        yield request.getfixturevalue("s3")
        return
    except pytest.FixtureLookupError:
        pass
    server = start_weed(tmp_path_factory.mktemp("weed"))
    try:
        yield server
    finally:
        server.stop()
