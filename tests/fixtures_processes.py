"""Session fixtures that start real dependencies as subprocesses on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pymongo import MongoClient

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_mongo(uri: str, proc: subprocess.Popen | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"secantusd-py exited with {proc.returncode}")
        try:
            MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("MongoDB did not answer in time")


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory):
    given = os.environ.get("TEST_MONGO_URI")
    if given:
        yield given
        return
    port = free_port()
    data = tmp_path_factory.mktemp("mongo")
    binary = shutil.which("secantusd-py", path=str(VENV_BIN)) or "secantusd-py"
    log = open(data / "secantusd.log", "wb")
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(data / "db"),
         "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    try:
        _wait_for_mongo(uri, proc)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
