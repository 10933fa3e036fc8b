"""A server started as ./run.sh starts it (`python -m server serve`: embedded database and S3 server,
gunicorn with gunicorn.conf.py), on free loopback ports with a temporary data folder, for the benches;
and the slow raw-socket clients they share."""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from server.process.embedded import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    url: str
    port: int
    key: str
    secret: str
    data_dir: Path

    @property
    def auth(self) -> tuple[str, str]:
        return self.key, self.secret

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()


@contextmanager
def serve(env_extra: dict | None = None, keep: bool = False):
    """Yields a Served once it answers; stops it (SIGTERM, as Ctrl-C would) and removes its data after."""
    data_dir = Path(tempfile.mkdtemp(prefix="modelreg-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(MODELREG_DATA_DIR=str(data_dir), MODELREG_PORT=str(port),
               MODELREG_MONGO_EMBEDDED_PORT=str(free_port()), MODELREG_S3_EMBEDDED_PORT=str(free_port()),
               **(env_extra or {}))
    log = open(data_dir / "launcher.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {(data_dir / 'launcher.log').read_text()[-2000:]}")
            try:
                if requests.get(url + "/debug.ping", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer in time")
            time.sleep(0.3)
        kept = json.loads((data_dir / "admin_credentials.json").read_text())
        yield Served(url, port, kept["access_key"], kept["secret_key"], data_dir)
    finally:
        stop_process(process, 60)
        log.close()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def connect(served: Served, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:  # a small window, so the server cannot hand a slow reader everything at once
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(120)
    sock.connect(("127.0.0.1", served.port))
    return sock


def read_reply(sock: socket.socket, rate: float | None = None, stop_at: float | None = None) -> tuple[int, bytes]:
    """Status and body of one reply, read at `rate` bytes/s when given, until `stop_at` (monotonic)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a reply: {data[:200]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    step = max(1024, int(rate / 10)) if rate else 65536
    while len(body) < length:
        if stop_at is not None and time.monotonic() > stop_at:
            break
        chunk = sock.recv(min(step, length - len(body)))
        if not chunk:
            raise ConnectionError("closed inside the reply")
        body += chunk
        if rate:
            time.sleep(len(chunk) / rate)
    return status, body


def send_slowly(sock: socket.socket, body: bytes, rate: float) -> None:
    """Sends `body` at about `rate` bytes/s, in tenths of a second; stops early when the server answers
    before the end (a refusal such as 503)."""
    step = max(1, int(rate / 10))
    for start in range(0, len(body), step):
        if select.select([sock], [], [], 0)[0]:
            return
        sock.sendall(body[start:start + step])
        time.sleep(0.1)


def request_head(served: Served, method: str, path: str, length: int, content_type: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {served.basic}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n").encode()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]
