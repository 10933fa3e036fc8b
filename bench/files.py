"""Throughput and memory of model files: 1 GB (default) through /files, through models.upload/download,
and the same bytes with the minio client straight to the same S3 server.

    .venv/bin/python -m bench.files [--size-mb 1024] [--rounds 3] [--workdir /tmp/x]

Starts its own secantusd-py, weed mini and a one-worker gunicorn (so the worker measured is the one that
served), prints MB/s for each path and the worker's peak RSS growth per operation (VmHWM after the
operation minus VmRSS before it, the peak being reset first through /proc/<pid>/clear_refs) and the CPU
seconds the client, the worker and the S3 server spent on it. Each round runs every path once and removes
what it stored; the summary gives the median rate of each path and the largest RSS growth.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import requests
import urllib3
from minio import Minio

from database import connection
from database.collections import users_db
from server.config import load_config
from server.process.embedded import free_port, start_mongo, start_s3

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
CHUNK = MB
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def upload_body(path: Path, prefix: bytes = b"", suffix: bytes = b"") -> Iterator[bytes]:
    """The request body: prefix, the file in 1 MiB blocks, suffix. Sent through urllib3 with a
    Content-Length, as the minio client sends its parts: both clients cost about the same CPU, which
    matters where the client, the worker and the S3 server share two cores (requests would send the
    body in 16 KiB blocks and take a core's worth more per GB than the minio client)."""
    if prefix:
        yield prefix
    with open(path, "rb") as file:
        while block := file.read(CHUNK):
            yield block
    if suffix:
        yield suffix


def post_file(http: urllib3.PoolManager, url: str, auth: dict, path: Path, size: int, content_type: str,
              prefix: bytes = b"", suffix: bytes = b"") -> dict:
    reply = http.request("POST", url, body=upload_body(path, prefix, suffix), preload_content=True,
                         headers={**auth, "Content-Type": content_type,
                                  "Content-Length": str(len(prefix) + size + len(suffix))})
    if reply.status != 200:
        raise RuntimeError(f"upload failed: {reply.status} {reply.data[:500]!r}")
    return json.loads(reply.data)


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def timed(label: str, size: int, action, pid: int | None, watched: dict[str, int]) -> tuple[float, int | None]:
    """Runs `action`, printing MB/s, the worker's peak RSS growth and the CPU seconds each watched
    process spent: on a small machine the client, the worker and the S3 server share the cores."""
    before = None
    if pid is not None:
        reset_peak(pid)
        before = memory(pid)["VmRSS"]
    cpu_before = {name: cpu_seconds(process) for name, process in watched.items()}
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    cpu = {name: cpu_seconds(process) - cpu_before[name] for name, process in watched.items()}
    growth = memory(pid)["VmHWM"] - before if pid is not None else None
    shown = f"{growth / MB:7.1f} MB" if growth is not None else "      -"
    spent = ", ".join(f"{name} {value:.1f}" for name, value in cpu.items() if name != "worker" or pid is not None)
    print(f"{label:34s} {size / MB / seconds:8.1f} MB/s {seconds:7.2f} s   RSS peak growth {shown}   "
          f"CPU s: {spent}", flush=True)
    return size / MB / seconds, growth


def settle(pid: int, seconds: float = 2.0) -> None:
    """A pause between operations, so one's after-work in the S3 server does not land on the next;
    prints the S3 server's CPU during it when there was any."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    spent = cpu_seconds(pid) - before
    if spent >= 0.1:
        print(f"{'':34s} (S3 server background CPU {spent:.1f} s in {seconds:.0f} s)", flush=True)


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
    parser.add_argument("--part-mb", type=int, help="multipart part size, direct and service (default: config)")
    parser.add_argument("--parts-in-flight", type=int, help="the service's s3.parts_in_flight (default: config)")
    parser.add_argument("--rounds", type=int, default=3, help="each path is measured this many times; medians")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelreg-bench-files-"))
    work.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MB
    part_size = args.part_mb * MB if args.part_mb else int(load_config(env={}).get("s3.part_size"))
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
                   MODELREG_S3_PART_SIZE=str(part_size))
        if args.parts_in_flight:
            env["MODELREG_S3_PARTS_IN_FLIGHT"] = str(args.parts_in_flight)
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
        watched = {"client": os.getpid(), "worker": pid, "s3": s3.pid}
        client = Minio(s3.address, access_key=access_key, secret_key=secret_key, secure=False, region="us-east-1")

        def minio_download():
            response = client.get_object(bucket, "direct/weights.bin")
            sha = hashlib.sha256()
            for chunk in response.stream(CHUNK):
                sha.update(chunk)
            response.close()
            response.release_conn()
            if sha.hexdigest() != digest:
                raise RuntimeError("direct download mismatch")

        boundary = "bench-" + secrets.token_hex(8)
        prefix = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"/bench/weights.bin\"; "
                  f"filename=\"/bench/weights.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        suffix = f"\r\n--{boundary}--\r\n".encode()

        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=900), retries=False)
        auth = urllib3.make_headers(basic_auth=f"{key}:{secret}")

        def files_upload():
            reply = post_file(http, url + "/files", auth, source, size,
                              f"multipart/form-data; boundary={boundary}", prefix, suffix)
            if reply["uploaded"][0]["sha256"] != digest:
                raise RuntimeError("files upload digest mismatch")

        model = session.post(url + "/v2.23/models.create", json={"name": "bench model", "uri": "file:///x"},
                             timeout=60).json()["data"]["id"]

        def rpc_upload():
            query = urlencode({"model": model, "filename": "weights.bin", "sha256": digest})
            reply = post_file(http, f"{url}/v2.23/models.upload?{query}", auth, source, size,
                              "application/octet-stream")
            if reply["data"]["sha256"] != digest:
                raise RuntimeError("models.upload digest mismatch")

        # (label, action, measured process or None, clean-up after the download); every round stores
        # and removes the same bytes on each path, so no path finds the S3 server fuller than another
        paths = [
            ("minio direct: upload", lambda: client.fput_object(bucket, "direct/weights.bin", str(source),
                                                                part_size=part_size), None, None),
            ("minio direct: download", minio_download, None,
             lambda: client.remove_object(bucket, "direct/weights.bin")),
            ("service /files: upload", files_upload, pid, None),
            ("service /files: download", lambda: drain(session.get(url + "/files/bench/weights.bin", stream=True,
                                                                   timeout=900), size, digest), pid,
             lambda: session.delete(url + "/files/bench/weights.bin", timeout=60).raise_for_status()),
            ("service models.upload", rpc_upload, pid, None),
            ("service models.download", lambda: drain(session.post(url + "/v2.23/models.download",
                                                                   json={"model": model}, stream=True, timeout=900),
                                                      size, digest), pid,
             lambda: session.post(url + "/v2.23/models.delete_file", json={"model": model},
                                  timeout=60).raise_for_status()),
        ]
        results: dict[str, list] = {label: [] for label, _, _, _ in paths}
        # warm-up, not counted: a fresh weed mini creates its first volumes on the first write
        with open(source, "rb") as file:
            client.put_object(bucket, "warm-up.bin", file, min(size, 64 * MB), part_size=part_size)
        client.remove_object(bucket, "warm-up.bin")
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number} of {args.rounds}", flush=True)
            for label, action, measured, clean_up in paths:
                results[label].append(timed(label, size, action, measured, watched))
                if clean_up is not None:
                    clean_up()
                settle(watched["s3"])

        print(f"\nmedians of {args.rounds} rounds, {args.size_mb} MB (share of direct: the same round's direct run,"
              " then the median over rounds; in brackets, median rate over median direct rate):")
        for label, runs in results.items():
            rate = statistics.median(rate for rate, _ in runs)
            line = f"{label:34s} {rate:8.1f} MB/s"
            if not label.startswith("minio"):
                kind = "upload" if "upload" in label else "download"
                direct = results[f"minio direct: {kind}"]
                paired = statistics.median(run[0] / base[0] for run, base in zip(runs, direct, strict=True))
                overall = rate / statistics.median(base for base, _ in direct)
                growth = max(growth for _, growth in runs)
                line += (f"  {100 * paired:4.0f}% [{100 * overall:3.0f}%] of direct minio {kind};"
                         f" RSS peak growth {growth / MB:.1f} MB")
            print(line, flush=True)
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
