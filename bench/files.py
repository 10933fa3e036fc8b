"""Throughput and memory of model files: 1 GB (default) through /files, through models.upload/download,
and the same bytes with the minio client straight to the same S3 server.

    .venv/bin/python -m bench.files [--size-mb 1024] [--workdir /tmp/x]

Starts its own secantusd-py, weed mini and a one-worker gunicorn (so the worker measured is the one that
served), prints MB/s for each path and the worker's peak RSS growth per operation (VmHWM after the
operation minus VmRSS before it, the peak being reset first through /proc/<pid>/clear_refs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from minio import Minio

from database import connection, users_db
from server.embedded import free_port, start_mongo, start_s3

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
CHUNK = MB
PART_SIZE = 16 * MB


class FileBody:
    """A streamed request body of known length: prefix + file + suffix (requests sends Content-Length)."""

    def __init__(self, file, size: int, prefix: bytes = b"", suffix: bytes = b""):
        self.pieces = [prefix, file, suffix]
        self.length = len(prefix) + size + len(suffix)
        self._index = 0

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        while self._index < len(self.pieces):
            piece = self.pieces[self._index]
            if not isinstance(piece, bytes):
                data = piece.read(size)
                if data:
                    return data
                self._index += 1
            else:
                self._index += 1
                if piece:
                    return piece
        return b""


def memory(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def timed(label: str, size: int, action, pid: int | None, results: list) -> None:
    before = None
    if pid is not None:
        reset_peak(pid)
        before = memory(pid)["VmRSS"]
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    growth = memory(pid)["VmHWM"] - before if pid is not None else None
    results.append((label, size / MB / seconds, seconds, growth))
    shown = f"{growth / MB:7.1f} MB" if growth is not None else "      -"
    print(f"{label:34s} {size / MB / seconds:8.1f} MB/s {seconds:7.2f} s   RSS peak growth {shown}", flush=True)


def drain(response: requests.Response, expect: int, digest: str) -> None:
    response.raise_for_status()
    sha = hashlib.sha256()
    received = 0
    for chunk in response.iter_content(CHUNK):
        sha.update(chunk)
        received += len(chunk)
    if received != expect or sha.hexdigest() != digest:
        raise RuntimeError(f"download mismatch: {received} bytes, sha256 {sha.hexdigest()}")


def make_file(path: Path, size: int) -> str:
    sha = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        block = os.urandom(64 * MB)
        while left > 0:
            piece = block[: min(left, len(block))]
            # vary each block so nothing downstream can deduplicate
            piece = hashlib.sha256(str(left).encode()).digest() + piece[32:]
            out.write(piece)
            sha.update(piece)
            left -= len(piece)
    return sha.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelreg-bench-files-"))
    work.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MB
    source = work / "weights.bin"
    print(f"writing {args.size_mb} MB test file ...", flush=True)
    digest = make_file(source, size)

    access_key, secret_key, bucket = "BENCH" + secrets.token_hex(6).upper(), secrets.token_hex(20), "modelreg-bench"
    mongo = start_mongo(work / "mongo", free_port(), work / "mongo.log")
    s3 = start_s3(work / "s3", free_port(), access_key, secret_key, bucket, work / "s3.log")
    gunicorn = None
    try:
        database = "bench_files"
        db = connection.connect(mongo.address, database)
        company = "bench_company_" + secrets.token_hex(4)
        user = users_db.create_user(db, "bench", company, "bench", "admin")
        key, secret = "BENCH" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
        users_db.add_credential(db, user, key, secret)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        env.update(MODELREG_MONGO_URI=mongo.address, MODELREG_MONGO_DATABASE=database,
                   MODELREG_AUTH_TOKEN_SECRET=secrets.token_hex(32), MODELREG_AUTH_DEFAULT_COMPANY=company,
                   MODELREG_S3_ENDPOINT=s3.address, MODELREG_S3_ACCESS_KEY=access_key,
                   MODELREG_S3_SECRET_KEY=secret_key, MODELREG_S3_BUCKET=bucket,
                   MODELREG_S3_PART_SIZE=str(PART_SIZE))
        with open(work / "gunicorn.log", "wb") as log:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "server.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1",
                 "--timeout", "900", "--no-control-socket"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.trust_env = False
        session.auth = (key, secret)
        deadline = time.monotonic() + 300
        while True:
            try:
                if session.get(url + "/debug.ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or gunicorn.poll() is not None:
                raise RuntimeError((work / "gunicorn.log").read_text()[-3000:])
            time.sleep(0.5)
        pid = worker_pid(gunicorn.pid)
        print(f"gunicorn worker {pid}: RSS {memory(pid)['VmRSS'] / MB:.1f} MB after start", flush=True)
        results: list = []

        client = Minio(s3.address, access_key=access_key, secret_key=secret_key, secure=False, region="us-east-1")
        timed("minio direct: upload", size,
              lambda: client.fput_object(bucket, "direct/weights.bin", str(source), part_size=PART_SIZE), None, results)

        def minio_download():
            response = client.get_object(bucket, "direct/weights.bin")
            sha = hashlib.sha256()
            for chunk in response.stream(CHUNK):
                sha.update(chunk)
            response.close()
            response.release_conn()
            if sha.hexdigest() != digest:
                raise RuntimeError("direct download mismatch")

        timed("minio direct: download", size, minio_download, None, results)

        boundary = "bench-" + secrets.token_hex(8)
        prefix = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"/bench/weights.bin\"; "
                  f"filename=\"/bench/weights.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        suffix = f"\r\n--{boundary}--\r\n".encode()

        def files_upload():
            with open(source, "rb") as file:
                reply = session.post(url + "/files", data=FileBody(file, size, prefix, suffix), timeout=900,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            reply.raise_for_status()
            if reply.json()["uploaded"][0]["sha256"] != digest:
                raise RuntimeError("files upload digest mismatch")

        timed("service /files: upload", size, files_upload, pid, results)
        timed("service /files: download", size,
              lambda: drain(session.get(url + "/files/bench/weights.bin", stream=True, timeout=900), size, digest),
              pid, results)

        model = session.post(url + "/v2.23/models.create", json={"name": "bench model", "uri": "file:///x"},
                             timeout=60).json()["data"]["id"]

        def rpc_upload():
            with open(source, "rb") as file:
                reply = session.post(url + "/v2.23/models.upload", data=FileBody(file, size), timeout=900,
                                     params={"model": model, "filename": "weights.bin", "sha256": digest})
            reply.raise_for_status()

        timed("service models.upload", size, rpc_upload, pid, results)
        timed("service models.download", size,
              lambda: drain(session.post(url + "/v2.23/models.download", json={"model": model}, stream=True,
                                         timeout=900), size, digest), pid, results)

        direct = {label.split(": ")[1]: rate for label, rate, _, _ in results if label.startswith("minio")}
        print()
        for label, rate, _, growth in results:
            if label.startswith("minio"):
                continue
            kind = "upload" if "upload" in label else "download"
            print(f"{label:34s} {100 * rate / direct[kind]:5.0f}% of direct minio {kind}; "
                  f"RSS peak growth {growth / MB:.1f} MB")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(30)
        s3.stop()
        mongo.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
