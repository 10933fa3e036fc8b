"""Records at scale: inserts N records for one model, then times a filtered page, a time-range page and
streaming all of them as NDJSON through the API, against bare pymongo iterating the same query.

    .venv/bin/python bench/records.py [--count 1000000] [--batch 10000] [--mongo-uri URI] [--data-dir DIR]
        [--no-stream]

Starts the real launcher (`python -m server serve`: embedded MongoDB unless --mongo-uri, embedded S3,
gunicorn with ONE worker so its memory can be watched) on free loopback ports with a temporary data
folder (or --data-dir, kept between runs: a later run with the same --count reuses its records),
inserts the records directly with pymongo (batched), and prints:
- the insert rate,
- for every filter records.get_all accepts, the median time of a page of 100 records through the API
  and of bare pymongo running the same query (the server's filter and sort, limit 100) on the same
  database, and their ratio (target: <= 100 ms a page at 1,000,000 records),
- records/s of the NDJSON stream (read by a client that only counts lines) and of bare pymongo
  iterating the same queries on the same database (the stream's filter, in the same windows of time:
  database/query/time_windows.py), and their ratio (target >= 0.8),
- the worker's peak RSS growth while streaming (target < 64 MB), sampled from /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
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
import urllib.error
import urllib.request
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo.errors import BulkWriteError  # noqa: E402

from bench import stack  # noqa: E402
from bench.schemathesis_run import answers, free_port, stop_server  # noqa: E402
from database.collections import record_days_db, record_rollups_db, records_db
from database.collections.records_db import STREAM_BATCH, Records
from database.connection import connect  # noqa: E402
from database.migrations import m0003_record_rollups  # noqa: E402
from database.query import engine as query_engine  # noqa: E402
from services.records import model_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
V = "2.99"
SITES, SEASONS, EXPERIMENTS, DATASETS = 20, 4, 10, 5


KEPT_KEY, KEPT_SECRET = "RECORDSBENCHKEY00001", "records-bench-secret-" + "x" * 24  # a kept folder's admin


def start_server(data_dir: Path, mongo_uri: str | None, kept: bool = False
                 ) -> tuple[subprocess.Popen, str, str, str, str]:
    port, mongo_port = free_port(), free_port()
    key = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
    secret = secrets.token_urlsafe(32)
    if kept:  # the first admin is made once, on the first run
        key, secret = KEPT_KEY, KEPT_SECRET
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
                         "site": f"site{i % SITES}", "dataset": f"dataset{i % DATASETS}",
                         "data": {"score": i % 997 / 997, "label": i % 7},
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
    record_days_db.count_days(db, company, model, per_day, dated_spans(count))
    records_db.ensure_indexes(db)
    print(f"indexes rebuilt in {time.perf_counter() - inserted:.1f} s", flush=True)
    build_rollups(db, company, model)
    return time.perf_counter() - began


def dated_spans(count: int) -> list[tuple[str, datetime]]:
    """The first and last timestamp of each collection date of `insert`'s records, as records.add notes
    them (database/collections/record_days_db.py); noting them again changes nothing."""
    start, spans = datetime(2024, 1, 1, tzinfo=timezone.utc), {}
    for i in range(count):
        when = start + timedelta(seconds=i * 30)
        first, _ = spans.setdefault(when.strftime("%Y-%m-%d"), (when, when))
        spans[when.strftime("%Y-%m-%d")] = (first, when)
    return [(day, when) for day, pair in spans.items() for when in pair]


def build_rollups(db, company: str, model: str) -> None:
    """Written around the API: the per-hour roll-ups records.add would have kept (record_rollups_db)."""
    began = time.perf_counter()
    found = db["records"].find({"model": model, "company": company}, m0003_record_rollups.FIELDS, batch_size=5000)
    record_rollups_db.rebuild(db, company, model, found)
    print(f"roll-ups built in {time.perf_counter() - began:.1f} s", flush=True)


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


def page_filters(db, model: str, user: str, count: int) -> dict[str, dict]:
    """A get_all request for every filter records.get_all accepts (each with the model, as the records
    page sends them), page_size 100."""
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    mid = start + timedelta(seconds=count * 15)
    day = mid.strftime("%Y-%m-%d")
    before, after = ((mid + timedelta(days=d)).strftime("%Y-%m-%d") for d in (-1, 1))
    ids = [d["_id"] for d in db["records"].find({"model": model}, {"_id": 1}).limit(100)]
    base = {"model": [model], "page_size": 100}
    return {
        "model": base,
        "site": {**base, "site": "site3"},
        "season": {**base, "season": "season1"},
        "experiment": {**base, "experiment": "exp4"},
        "dataset": {**base, "dataset": "dataset2"},
        "collection_date": {**base, "collection_date": day},
        "user": {**base, "user": [user]},
        "id (100 ids)": {**base, "id": ids},
        "site + season": {**base, "site": "site3", "season": ["season3"]},
        "sites (any of 2)": {**base, "site": ["site1", "site2"]},
        "site, newest first": {**base, "site": "site7", "order_by": ["-timestamp"]},
        "time range (6 hours)": {**base, "start_timestamp": mid.isoformat(),
                                 "end_timestamp": (mid + timedelta(hours=6)).isoformat()},
        "site + time range": {**base, "site": "site5", "start_timestamp": mid.isoformat()},
        "collection_date_range": {**base, "collection_date_range": [day, day], "season": "season2"},
        "3 dates + season": {**base, "collection_date_range": [before, after], "season": "season2"},
        "site, page 5": {**base, "site": "site9", "page": 5},
    }


def bare_query(db, company: str, request: dict) -> tuple[dict, list, int]:
    """The filter, sort and skip the server sends for a get_all request (services/records/crud.py
    `_prepare`), for bare pymongo to run."""
    data = {k: v for k, v in request.items() if k not in ("start_timestamp", "end_timestamp",
                                                            "collection_date_range", "page", "page_size")}
    span = model_data.timestamp_span(request)
    if span:
        data["timestamp"] = span
    extra = model_data.date_range("collection_date", request.get("collection_date_range"))
    match = Records(db, company).stream_filter(data, extra)
    sort = query_engine.build_sort(records_db.SPEC, request.get("order_by") or ["timestamp"])
    return match, sort, request.get("page", 0) * request["page_size"]


def pages(url: str, auth: str, db, company: str, model: str, user: str, count: int, runs: int) -> None:
    print(f"pages of 100 records at {count:,} records, median of {runs} (API) / one run (bare pymongo, same query):")
    slowest = 0.0
    for name, request in page_filters(db, model, user, count).items():
        api_ms = median_ms(lambda r=request: ok(url, auth, "records.get_all", r), runs)
        match, sort, skip = bare_query(db, company, request)
        # once: on the embedded server it sorts every match, seconds at a million records
        bare_ms = median_ms(lambda m=match, o=sort, k=skip: list(db["records"].find(m, sort=o, skip=k, limit=100)), 1)
        got = len(ok(url, auth, "records.get_all", request)["records"])
        slowest = max(slowest, api_ms)
        print(f"  {name:<24} {api_ms:8.1f} ms  bare {bare_ms:8.1f} ms  x{api_ms / bare_ms:5.2f}  ({got} records)",
              flush=True)
    print(f"slowest page: {slowest:.1f} ms (target <= 100 ms)")


def charts(url: str, auth: str, model: str, runs: int) -> None:
    """records.get_series as the registry's records page asks it, from the roll-ups, and the same with a
    start 1 ms later (not a whole hour: aggregated from the records, as every call was before roll-ups)."""
    first = ok(url, auth, "records.get_series", {"model": model, "max_points": 10})["from"]
    unaligned = (datetime.fromisoformat(first) + timedelta(milliseconds=1)).isoformat()
    print(f"records.get_series, median of {runs} (roll-ups / aggregated from the records):")
    for name, request in (("count, 1000 points", {"max_points": 1000}),
                          ("score, 1000 points", {"field": "score", "max_points": 1000}),
                          ("score, site3, 5000 points", {"field": "score", "site": "site3", "max_points": 5000})):
        body = {"model": model, **request}
        rolled = median_ms(lambda b=body: ok(url, auth, "records.get_series", b), runs)
        buckets = len(ok(url, auth, "records.get_series", body)["buckets"])
        began, note = time.perf_counter(), ""
        try:
            ok(url, auth, "records.get_series", {**body, "start_timestamp": unaligned})
        except urllib.error.HTTPError as exc:  # past the database deadline (mongo.deadline_sec)
            note = f" (answered {exc.code})"
        slow = (time.perf_counter() - began) * 1000
        print(f"  {name:<26} {rolled:8.1f} ms  aggregated {slow:9.1f} ms{note}  ({buckets} buckets)", flush=True)


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
    parser.add_argument("--data-dir", help="a folder kept between runs (the records are loaded once)")
    parser.add_argument("--runs", type=int, default=5, help="pages timed per filter (median)")
    parser.add_argument("--no-stream", action="store_true", help="time the pages only")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack_:
        tmp = args.data_dir or stack_.enter_context(tempfile.TemporaryDirectory(prefix="modelreg-records-bench-"))
        Path(tmp).mkdir(parents=True, exist_ok=True)
        process, url, key, secret, mongo_uri = start_server(Path(tmp), args.mongo_uri, kept=bool(args.data_dir))
        try:
            import base64

            auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
            db = connect(mongo_uri, "modelreg", timeout_ms=3_600_000)  # building an index on 1M records takes minutes
            doc = db["models"].find_one({"name": "bench model"})
            if doc is None or db["records"].count_documents({"model": doc["_id"]}) != args.count:
                if doc is not None:
                    sys.exit(f"{tmp} holds another number of records: use another --data-dir")
                model = ok(url, auth, "models.create", {"name": "bench model", "uri": "file:///tmp/m.pt"})["id"]
                doc = db["models"].find_one({"_id": model})
                seconds = insert(db, doc["company"], doc["user"], model, args.count, args.batch)
                print(f"loaded {args.count} records in {seconds:.1f} s "
                      f"({args.count / seconds:,.0f} records/s, indexes included)")
            else:
                print(f"reusing the {args.count} records in {tmp}")
                build_rollups(db, doc["company"], doc["_id"])  # again: a stopped run may have left them partial
                # records loaded by an earlier release have no collection-date spans noted
                record_days_db.count_days(db, doc["company"], doc["_id"], {}, dated_spans(args.count))
            model, company, user = doc["_id"], doc["company"], doc["user"]
            pages(url, auth, db, company, model, user, args.count, args.runs)
            charts(url, auth, model, args.runs)
            if args.no_stream:
                db.client.close()
                return 0

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
