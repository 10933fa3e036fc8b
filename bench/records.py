"""Records at scale: inserts N records for one model, then times a filtered page, a time-range page and
streaming all of them as NDJSON through the API, against bare pymongo iterating the same query.

    .venv/bin/python bench/records.py [--count 1000000] [--batch 10000] [--mongo-uri URI]

Starts the real launcher (`python -m server serve`: embedded MongoDB unless --mongo-uri, embedded S3,
gunicorn with ONE worker so its memory can be watched) on free loopback ports with a temporary data
folder, inserts the records directly with pymongo (batched), and prints:
- the insert rate,
- the median time of a filtered page and of a time-range page (100 records each),
- records/s of the NDJSON stream (read by a client that only counts lines) and of bare pymongo
  iterating the same queries on the same database (the stream's filter, in the same windows of time:
  database/query/time_windows.py), and their ratio (target >= 0.8),
- the worker's peak RSS growth while streaming (target < 64 MB), sampled from /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo.errors import BulkWriteError  # noqa: E402

from bench import stack  # noqa: E402
from bench.schemathesis_run import answers, free_port, stop_server  # noqa: E402
from database.collections import records_db
from database.collections.records_db import STREAM_BATCH, Records
from database.connection import connect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
V = "2.99"
SITES, SEASONS, EXPERIMENTS = 20, 4, 10


def start_server(data_dir: Path, mongo_uri: str | None) -> tuple[subprocess.Popen, str, str, str, str]:
    port, mongo_port = free_port(), free_port()
    key = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
    secret = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(MODELREG_DATA_DIR=str(data_dir), MODELREG_PORT=str(port), MODELREG_SERVER_WORKERS="1",
               MODELREG_MONGO_EMBEDDED_PORT=str(mongo_port), MODELREG_S3_EMBEDDED_PORT=str(free_port()),
               MODELREG_ADMIN_KEY=key, MODELREG_ADMIN_SECRET=secret)
    if mongo_uri:
        env["MODELREG_MONGO_URI"] = mongo_uri
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - the server's log for its whole life
    process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while not answers(url + "/debug.ping"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the server did not start:\n{(data_dir / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.5)
    return process, url, key, secret, mongo_uri or f"mongodb://127.0.0.1:{mongo_port}"


def call(url: str, auth: str, endpoint: str, body: dict, accept: str | None = None):
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(f"{url}/v{V}/{endpoint}", data=json.dumps(body).encode(), headers=headers)
    return urllib.request.urlopen(request, timeout=3600)  # noqa: S310 - loopback only


def ok(url: str, auth: str, endpoint: str, body: dict) -> dict:
    with call(url, auth, endpoint, body) as reply:
        return json.loads(reply.read())["data"]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def gunicorn_worker(root_pid: int) -> int:
    """The one gunicorn worker under the launcher (launcher -> gunicorn master -> worker)."""
    masters = [p for p in stack.children(root_pid) if "gunicorn" in stack.cmdline(p)]
    workers = [w for m in masters for w in stack.children(m)]
    if len(workers) != 1:
        sys.exit(f"expected one gunicorn worker, found {workers}")
    return workers[0]


class PeakRss(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.base, self.peak, self.running = pid, rss_kb(pid), 0, True

    def run(self):
        while self.running:
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except FileNotFoundError:
                print(f"the worker {self.pid} exited while streaming", flush=True)
                return
            time.sleep(0.02)


def insert(db, company: str, user: str, model: str, count: int, batch: int) -> float:
    """Bulk load as an operator would: indexes dropped, documents inserted in batches, indexes rebuilt
    (the embedded server inserts ~6x faster into an unindexed collection)."""
    db["records"].drop_indexes()
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    began = time.perf_counter()
    for first in range(0, count, batch):
        docs = []
        for i in range(first, min(first + batch, count)):
            when = start + timedelta(seconds=i * 30)
            docs.append({"_id": uuid.uuid4().hex, "company": company, "user": user, "model": model,
                         "timestamp": when, "collection_date": when.strftime("%Y-%m-%d"),
                         "experiment": f"exp{i % EXPERIMENTS}", "season": f"season{i % SEASONS}",
                         "site": f"site{i % SITES}", "data": {"score": i % 997 / 997, "label": i % 7},
                         "info": {}, "created": when, "last_update": when})
        try:
            db["records"].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # a retried batch (the driver retries after a slow reply) finds its first attempt's records
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise RuntimeError(f"insert failed: {exc.details['writeErrors'][0].get('errmsg')}") from None
        if (first // batch) % 20 == 19:
            print(f"  {first + batch} inserted after {time.perf_counter() - began:.0f} s", flush=True)
    inserted = time.perf_counter()
    print(f"inserted in {inserted - began:.1f} s", flush=True)
    # written around the API: count the records' days as records.add would have (database/collections/records_db.py)
    per_day = Counter((start + timedelta(seconds=i * 30)).date() for i in range(count))
    records_db.count_days(db, company, model, per_day)
    records_db.ensure_indexes(db)
    print(f"indexes rebuilt in {time.perf_counter() - inserted:.1f} s", flush=True)
    return time.perf_counter() - began


def bare_pymongo(db, company: str, model: str) -> tuple[int, float]:
    """(records, seconds) of bare pymongo running the queries the server runs for the stream: the same
    filter, read in the same windows of time."""
    records = Records(db, company)
    sort = [("timestamp", 1), ("_id", 1)]
    same_query = records.stream_filter({"model": [model]})
    windows = records.stream_windows(same_query, sort)
    rest, count = {k: v for k, v in same_query.items() if k != "timestamp"}, 0
    began = time.perf_counter()
    for condition in windows:
        for _ in db["records"].find({**rest, "timestamp": condition} if condition else rest, sort=sort,
                                    batch_size=STREAM_BATCH):
            count += 1
    return count, time.perf_counter() - began


def median_ms(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--mongo-uri", help="a MongoDB to use instead of the embedded server")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="modelreg-records-bench-") as tmp:
        process, url, key, secret, mongo_uri = start_server(Path(tmp), args.mongo_uri)
        try:
            import base64

            auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
            model = ok(url, auth, "models.create", {"name": "bench model", "uri": "file:///tmp/m.pt"})["id"]
            db = connect(mongo_uri, "modelreg", timeout_ms=3_600_000)  # building an index on 1M records takes minutes
            doc = db["models"].find_one({"_id": model})
            company, user = doc["company"], doc["user"]
            seconds = insert(db, company, user, model, args.count, args.batch)
            print(f"loaded {args.count} records in {seconds:.1f} s "
                  f"({args.count / seconds:,.0f} records/s, indexes included)")

            filtered = {"model": [model], "site": "site3", "season": ["season3"], "page_size": 100}
            ms = median_ms(lambda: ok(url, auth, "records.get_all", filtered))
            print(f"filtered page (site, season; 100 records): median {ms:.1f} ms")
            mid = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=args.count * 15)
            ranged = {"model": [model], "start_timestamp": mid.isoformat(),
                      "end_timestamp": (mid + timedelta(hours=6)).isoformat(), "page_size": 100}
            ms = median_ms(lambda: ok(url, auth, "records.get_all", ranged))
            print(f"time-range page (6 hours; 100 records): median {ms:.1f} ms")

            # bare pymongo before and after the stream, the faster counted: neither side gains from the
            # database's caches being warmed by the other
            first_bare = bare_pymongo(db, company, model)
            worker = gunicorn_worker(process.pid)
            watch = PeakRss(worker)
            watch.start()
            began = time.perf_counter()
            lines = 0
            with call(url, auth, "records.get_all", {"model": [model]}, accept="application/x-ndjson") as reply:
                while True:
                    chunk = reply.read(1 << 20)
                    if not chunk:
                        break
                    lines += chunk.count(b"\n")
            api_seconds = time.perf_counter() - began
            watch.running = False
            watch.join()
            bare, bare_seconds = min(first_bare, bare_pymongo(db, company, model), key=lambda run: run[1])
            api_rate, bare_rate = lines / api_seconds, bare / bare_seconds
            print(f"NDJSON stream: {lines} records in {api_seconds:.1f} s ({api_rate:,.0f} records/s)")
            print(f"bare pymongo:  {bare} records in {bare_seconds:.1f} s ({bare_rate:,.0f} records/s)")
            print(f"stream / pymongo: {api_rate / bare_rate:.2f}x (target >= 0.8)")
            print(f"worker peak RSS growth while streaming: {(watch.peak - watch.base) / 1024:.1f} MB "
                  f"(from {watch.base / 1024:.0f} MB; target < 64 MB)")
            db.client.close()
            return 0 if lines == args.count else 1
        except Exception:
            for log in [Path(tmp) / "serve.log", *sorted((Path(tmp) / "logs").glob("*.log"))]:
                print(f"{log.name} ends with:\n" + log.read_text(errors="replace")[-3000:])
            raise
        finally:
            stop_server(process)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
