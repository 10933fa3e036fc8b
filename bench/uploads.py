"""Resumable uploads (`./run.sh bench uploads [--size-mb N]`): one gunicorn worker over the embedded
MongoDB and S3 (weed mini), all on this machine.

1. through the API vs direct S3: the same file sent in parts of the same size, 4 at a time, by
   client/transfer.py (uploads.start, PUT parts, uploads.complete, which reads back the parts that did
   not arrive in order) and by the same part requests straight to S3 (database/storage/s3_requests.py);
   the ratio is direct time / API time.
   The client's own sha256 pass over the file is timed apart (the API needs the hash, S3 does not).
2. resume: `modelreg upload --parallel 1` killed at ~60% of its parts and run again; "resent" counts the
   parts the second run sent that the first had started.
3. dedup: the first file uploaded again by a client that knows its hash: uploads.start answers complete.
4. the worker's peak RSS growth during (1).
Last line: `uploads: through-api x<r> of direct s3, resume resent <n> parts, dedup <s> s, rss +<m> MB`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import urllib3
from minio import Minio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.files import make_file, memory, reset_peak, worker_pid  # noqa: E402
from client.api import Api  # noqa: E402
from client.profiles import Profile  # noqa: E402
from client.transfer import _save, file_sha256, state_path, upload  # noqa: E402
from database import connection  # noqa: E402
from database.collections import users_db  # noqa: E402
from database.storage.s3_requests import S3Requests  # noqa: E402
from server.process.embedded import free_port, start_mongo, start_s3  # noqa: E402

MB = 1024 * 1024
PARALLEL = 4


def direct_s3(client: Minio, bucket: str, path: Path, part_size: int) -> float:
    size = path.stat().st_size
    count = max(1, -(-size // part_size))
    s3 = S3Requests(client, urllib3.PoolManager(maxsize=PARALLEL), bucket)
    started = time.monotonic()
    upload_id = s3.create_multipart("direct/weights.bin", {})

    def send(number: int) -> tuple[int, str]:
        with open(path, "rb") as source:
            source.seek((number - 1) * part_size)
            data = source.read(part_size)
        return number, s3.upload_part("direct/weights.bin", upload_id, number, data)

    with ThreadPoolExecutor(PARALLEL) as pool:
        parts = list(pool.map(send, range(1, count + 1)))
    s3.complete_multipart("direct/weights.bin", upload_id, parts)
    return time.monotonic() - started


def resume_run(url: str, key: str, secret: str, work: Path, path: Path, part_size: int) -> tuple[int, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(MODELREG_SERVER=url, MODELREG_ACCESS_KEY=key, MODELREG_SECRET_KEY=secret,
               XDG_CACHE_HOME=str(work / "cache"), XDG_CONFIG_HOME=str(work / "config"))
    argv = [sys.executable, "-m", "client.cli", "--json", "upload", str(path), "--part-size", str(part_size)]
    api = Api(Profile(url, key, secret))
    first = subprocess.Popen([*argv, "--parallel", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE)
    state_file = work / "cache" / "modelreg" / "uploads"
    while True:
        states = [json.loads(p.read_text()) for p in state_file.glob("*.json")] if state_file.is_dir() else []
        state = next((s for s in states if s.get("upload")), None)
        if state:
            status = api.call("uploads.get_status", {"upload": state["upload"]})
            if len(status["parts"]) >= 0.6 * status["part_count"]:
                break
        if first.poll() is not None:
            raise RuntimeError("the upload ended before it could be killed; use a larger --size-mb")
        time.sleep(0.02)
    first.kill()
    first.wait()
    started = set(json.loads(next(state_file.glob("*.json")).read_text())["started"])
    done = subprocess.run([*argv, "--parallel", str(PARALLEL)], cwd=ROOT, env=env, capture_output=True, text=True)
    result = json.loads(done.stdout)
    return len(started & set(result["sent_parts"])), result["file"]["sha256"] == file_sha256(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024, help="file size (capped at 5 GB and by free disk)")
    parser.add_argument("--part-mb", type=int, default=16)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelreg-bench-uploads-"))
    work.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(work).free
    size = min(args.size_mb * MB, 5000 * MB, free // 4)  # the file, S3's two copies and the resume file
    part_size = args.part_mb * MB
    print(f"file size {size / MB:.0f} MB, parts of {args.part_mb} MB, {PARALLEL} at a time", flush=True)
    source, second = work / "weights.bin", work / "resume.bin"
    make_file(source, size)
    access_key, secret_key, bucket = "BENCH" + secrets.token_hex(6).upper(), secrets.token_hex(20), "modelreg-bench"
    mongo = start_mongo(work / "mongo", free_port(), work / "mongo.log")
    s3 = start_s3(work / "s3", free_port(), access_key, secret_key, bucket, work / "s3.log")
    gunicorn = None
    try:
        db = connection.connect(mongo.address, "bench_uploads")
        company = "bench_company_" + secrets.token_hex(4)
        user = users_db.create_user(db, "bench", company, "bench", "admin")
        key, secret = "BENCH" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
        users_db.add_credential(db, user, key, secret)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        env.update(MODELREG_MONGO_URI=mongo.address, MODELREG_MONGO_DATABASE="bench_uploads",
                   MODELREG_AUTH_TOKEN_SECRET=secrets.token_hex(32), MODELREG_AUTH_DEFAULT_COMPANY=company,
                   MODELREG_S3_ENDPOINT=s3.address, MODELREG_S3_ACCESS_KEY=access_key,
                   MODELREG_S3_SECRET_KEY=secret_key, MODELREG_S3_BUCKET=bucket)
        with open(work / "gunicorn.log", "wb") as log:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "server.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "1",
                 "--timeout", "900", "--no-control-socket"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(url + "/debug.ping", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or gunicorn.poll() is not None:
                raise RuntimeError((work / "gunicorn.log").read_text()[-3000:])
            time.sleep(0.5)
        pid = worker_pid(gunicorn.pid)
        client = Minio(s3.address, access_key=access_key, secret_key=secret_key, secure=False, region="us-east-1")
        direct = direct_s3(client, bucket, source, part_size)
        print(f"direct S3 multipart: {direct:.2f} s, {size / MB / direct:.1f} MB/s", flush=True)

        os.environ["XDG_CACHE_HOME"] = str(work / "cache-inproc")
        api = Api(Profile(url, key, secret), timeout=900)
        hashed = time.monotonic()
        sha = file_sha256(source)
        hashed = time.monotonic() - hashed
        _save(state_path(source), {"sha256": sha, "started": []})  # the client knows the hash already
        reset_peak(pid)
        before = memory(pid)["VmRSS"]
        started = time.monotonic()
        result = upload(api, source, parallel=PARALLEL, part_size=part_size)
        through = time.monotonic() - started
        growth = (memory(pid)["VmHWM"] - before) / MB
        assert result["file"]["sha256"] == sha
        print(f"through the API: {through:.2f} s, {size / MB / through:.1f} MB/s, {result['reread_parts']} of "
              f"{len(result['sent_parts'])} parts read back at complete; client sha256 pass {hashed:.2f} s", flush=True)

        _save(state_path(source), {"sha256": sha, "started": []})
        started = time.monotonic()
        again = upload(api, source, parallel=PARALLEL, part_size=part_size)
        dedup = time.monotonic() - started
        assert again["sent_parts"] == [] and again["file"]["sha256"] == sha

        make_file(second, size)
        resent, correct = resume_run(url, key, secret, work, second, part_size)
        print(f"resume: {resent} part(s) sent again, sha256 {'right' if correct else 'WRONG'}", flush=True)
        print(f"uploads: through-api x{direct / through:.2f} of direct s3, resume resent {resent} parts, "
              f"dedup {dedup:.2f} s, rss +{growth:.0f} MB")
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(30)
        s3.stop()
        mongo.stop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
