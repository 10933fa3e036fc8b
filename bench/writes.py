"""Writes through the API against the raw pymongo writes they make, same server, same indexes.

Starts the server as ./run.sh does (gunicorn, the embedded database, journaled writes as configured) and,
on the same database, times each write both ways, sequentially (one kept-alive connection / one pymongo
client) and from 8 threads:
  create  `models.create` (name, uri, a tag, a comment)  |  insert_one of the same document into `models`
  edit    `models.edit` of the comment                     |  update_one of comment and last_update
  alias   `models.set_alias` moving `prod` to the next model of one registered model
          |  the registered model's alias and history in one find_one_and_update, the two models' copies
  record  `records.add` (a site, a season, data)          |  the day count upsert and insert_one into `records`
Raw writes go with the same write concern as the server's (mongo.journal). The ratio of an operation is
API cost over raw cost (time per call sequentially, inverse throughput at 8 threads); the last line gives
the worse of the two per operation:

    writes: create x<r> edit x<r> alias x<r> record x<r>

    ./run.sh bench writes [--count 300]
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import MongoClient, ReturnDocument  # noqa: E402

from bench import stack  # noqa: E402

THREADS = 8


def api_calls(url: str, token: str, calls: list[tuple[str, dict]], threads: int) -> tuple[float, list]:
    """Sends the calls from `threads` kept-alive connections; returns the seconds taken and the replies."""
    host = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + token}
    replies: list = [None] * len(calls)
    numbers = iter(range(len(calls)))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                break
            endpoint, body = calls[number]
            connection.request("POST", endpoint, body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            raw = response.read()
            if response.status != 200:
                failures.append(f"{endpoint} {response.status} {raw[:200]!r}")
            replies[number] = json.loads(raw)
        connection.close()

    return _timed(worker, threads, failures), replies


def raw_calls(work: list, threads: int) -> float:
    numbers = iter(range(len(work)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                break
            work[number]()

    return _timed(worker, threads, [])


def _timed(worker, threads: int, failures: list) -> float:
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} calls failed, first: {failures[0]}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="calls of each kind, per concurrency level")
    args = parser.parse_args()
    from server.config import load_config

    config = load_config()
    journal = bool(config.get("mongo.journal"))
    folder = Path(tempfile.mkdtemp(prefix="modelreg-writes-"))
    server = None
    try:
        server = stack.start_modelreg(folder)
        token = server.token()
        db = MongoClient(server.mongo_uri, tz_aware=True, journal=journal)[config.get("mongo.database")]
        company = server.company
        print(f"writes: {args.count} calls of each kind, sequential and {THREADS} threads, journal {journal}, "
              f"{len(db['models'].index_information())} indexes on models, "
              f"{len(db['records'].index_information())} on records", flush=True)
        model = api_calls(server.url, token, [("/api/v2.99/models.create", {"name": "bench-records",
                                                                              "uri": "s3://b/r"})], 1)[1][0]
        record_model = model["data"]["id"]
        ratios: dict[str, float] = {}
        for threads in (1, THREADS):
            n = args.count
            tag = f"t{threads}"
            now = datetime.now(timezone.utc)

            def model_doc(name: str, now=now) -> dict:
                return {"_id": uuid4().hex, "company": company, "user": "bench", "name": name, "comment": "first",
                        "uri": f"s3://b/{name}", "tags": ["vision"], "system_tags": [], "labels": {}, "design": {},
                        "ui_cache": {}, "metadata": {}, "ready": True, "last_iteration": 0, "created": now,
                        "last_update": now, "last_change": now, "last_changed_by": "bench", "project": None}

            figures: dict[str, tuple[float, float]] = {}
            # create
            api, created = api_calls(server.url, token, [
                ("/api/v2.99/models.create", {"name": f"api-{tag}-{i}", "uri": f"s3://b/{i}", "tags": ["vision"],
                                              "comment": "first"}) for i in range(n)], threads)
            raw_docs = [model_doc(f"raw-{tag}-{i}") for i in range(n)]
            raw = raw_calls([lambda d=d: db["models"].insert_one(d) for d in raw_docs], threads)
            figures["create"] = (api, raw)
            ids = [r["data"]["id"] for r in created]
            # edit
            api, _ = api_calls(server.url, token, [("/api/v2.99/models.edit", {"model": i, "comment": "second"})
                                                   for i in ids], threads)
            raw = raw_calls([lambda d=d, now=now: db["models"].update_one(
                {"_id": d["_id"], "company": company},
                {"$set": {"comment": "second", "last_update": now, "last_change": now}}) for d in raw_docs], threads)
            figures["edit"] = (api, raw)
            # alias: moved along the versions of one registered model
            versions = api_calls(server.url, token, [("/api/v2.99/models.create", {"name": f"aliased-{tag}",
                                                                                    "uri": f"s3://b/v{i}"})
                                                     for i in range(n)], threads)[1]
            version_ids = [r["data"]["id"] for r in versions]
            api, _ = api_calls(server.url, token, [("/api/v2.99/models.set_alias", {"model": i, "alias": "prod"})
                                                   for i in version_ids], threads)
            registered = {"_id": uuid4().hex, "company": company, "project": None, "name": f"raw-aliased-{tag}",
                          "aliases": {}, "alias_seq": 0, "last_version": 0}
            db["registered_models"].insert_one(registered)

            def move(target: str, key=registered["_id"]) -> None:
                before = db["registered_models"].find_one_and_update(
                    {"_id": key, "company": company},
                    {"$set": {"aliases.prod": target}, "$inc": {"alias_seq": 1},
                     "$push": {"alias_history": {"$each": [{"alias": "prod", "model": target}], "$slice": -100}}},
                    projection={"aliases": 1, "alias_seq": 1}, return_document=ReturnDocument.BEFORE)
                previous = (before.get("aliases") or {}).get("prod")
                db["models"].update_one({"_id": target, "company": company},
                                        {"$set": {"aliases": ["prod"], "alias_seq": before["alias_seq"] + 1}})
                if previous:
                    db["models"].update_one({"_id": previous, "company": company},
                                            {"$set": {"aliases": [], "alias_seq": before["alias_seq"] + 1}})
            raw = raw_calls([lambda d=d: move(d["_id"]) for d in raw_docs], threads)
            figures["alias"] = (api, raw)
            # record
            api, _ = api_calls(server.url, token, [("/api/v2.99/records.add", {
                "model": record_model, "site": f"s{i % 7}", "season": "spring", "data": {"i": i}})
                for i in range(n)], threads)
            day = f"{now.year:04d}-{now.month:02d}"

            def add_record(i: int, now=now, day=day) -> None:
                db["record_days"].update_one({"_id": f"{company}/{record_model}/{day}"},
                                             {"$inc": {f"days.{now.day:02d}": 1}}, upsert=True)
                db["records"].insert_one({"_id": uuid4().hex, "company": company, "user": "bench",
                                          "model": record_model, "timestamp": now, "collection_date": None,
                                          "data": {"i": i}, "dataset": None, "experiment": None,
                                          "season": "spring", "site": f"s{i % 7}", "info": {}, "created": now,
                                          "last_update": now})
            raw = raw_calls([lambda i=i: add_record(i) for i in range(n)], threads)
            figures["record"] = (api, raw)
            for op, (api, raw) in figures.items():
                ratio = api / raw
                ratios[op] = max(ratios.get(op, 0.0), ratio)
                print(f"  {op:6} {threads} thread{'s' if threads > 1 else ' '}: API {n / api:7.1f}/s "
                      f"({api / n * 1000:6.2f} ms each)  raw {n / raw:7.1f}/s ({raw / n * 1000:6.2f} ms)  "
                      f"x{ratio:.2f}", flush=True)
        db.client.close()
        print("writes: " + " ".join(f"{op} x{ratios[op]:.2f}" for op in ("create", "edit", "alias", "record")))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
