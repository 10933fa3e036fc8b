"""Bulk ingest: records through `records.add_many` against bare pymongo `insert_many`, same server, same
collection and indexes.

Starts the server as ./run.sh does (gunicorn, the embedded database) and sends N records of one model in
one `records.add_many` call, a JSON-lines body streamed with chunked encoding as it is generated (a site
of 20, a season of 4, a timestamp a second apart, a small `data` object). Then inserts N records of the
same shape with bare `insert_many` in batches of the same size as the server's, the same write concern
as the server's (unjournaled batches, one journaled write at the end). Samples the RSS of the gunicorn
workers during the call and prints the growth over their RSS before it. Ends with

    ingest: <n> records/s x<ratio> of insert_many, rss +<m> MB

    ./run.sh bench ingest [--records 1000000]
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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import MongoClient, WriteConcern  # noqa: E402

from bench import stack  # noqa: E402
from services.records.ingest import BATCH  # noqa: E402

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
LINES_PER_CHUNK = 500


def fields(n: int) -> dict:
    return {"timestamp": (START + timedelta(seconds=n)).isoformat(), "site": f"site-{n % 20}",
            "season": f"season-{n % 4}", "experiment": "ingest", "data": {"n": n, "yield": n % 97 / 10}}


def body(count: int):
    """The JSON-lines body, generated as it is sent."""
    for first in range(0, count, LINES_PER_CHUNK):
        yield "".join(json.dumps(fields(n)) + "\n" for n in range(first, min(count, first + LINES_PER_CHUNK))).encode()


class RssSampler:
    def __init__(self, pids: list[int]):
        self.pids = pids
        self.before = sum(stack.rss_mb(p) for p in pids)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, sum(stack.rss_mb(p) for p in self.pids))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="modelreg-ingest-"))
    server = None
    try:
        server = stack.start_modelreg(folder)
        token = server.token()
        model = stack.post_json(server.url + "/api/v2.99/models.create", {"name": "ingest", "uri": "s3://b/i"},
                                {"Authorization": "Bearer " + token})["data"]["id"]
        host = urllib.parse.urlsplit(server.url)
        workers = server.gunicorn_workers()
        print(f"ingest: {args.records} records in one records.add_many call (JSON lines, chunked), batches of "
              f"{BATCH}, {len(workers)} gunicorn workers", flush=True)
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=600)
        with RssSampler(workers) as rss:
            began = time.perf_counter()
            connection.request("POST", f"/api/v2.99/records.add_many?model={model}", body=body(args.records),
                               headers={"Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"},
                               encode_chunked=True)
            response = connection.getresponse()
            reply = json.loads(response.read())
            api = time.perf_counter() - began
        assert response.status == 200, reply["meta"]
        assert reply["data"]["stored"] == args.records, reply["data"]
        print(f"  records.add_many {args.records / api:9.0f} records/s ({api:.1f} s), workers' RSS "
              f"{rss.before:.0f} -> peak {rss.peak:.0f} MB", flush=True)

        client = MongoClient(server.mongo_uri, tz_aware=True)
        db = client.get_database("modelreg", write_concern=WriteConcern(w=1, j=False))
        records = db["records"]
        began = time.perf_counter()
        for first in range(0, args.records, BATCH):
            now = datetime.now(timezone.utc)
            docs = []
            for n in range(first, min(args.records, first + BATCH)):
                doc = fields(n)
                doc.update(_id=uuid4().hex, company=server.company, user="bench", model=model,
                           timestamp=START + timedelta(seconds=n), collection_date=None, dataset=None, info={},
                           created=now, last_update=now)
                docs.append(doc)
            records.insert_many(docs)
        client.get_database("modelreg", write_concern=WriteConcern(w=1, j=True))["journal_flushes"].update_one(
            {"_id": "bench"}, {"$inc": {"n": 1}}, upsert=True)
        bare = time.perf_counter() - began
        client.close()
        print(f"  bare insert_many {args.records / bare:9.0f} records/s ({bare:.1f} s), documents built in the "
              f"loop as the server builds them", flush=True)
        print(f"ingest: {args.records / api:.0f} records/s x{bare / api:.2f} of insert_many, "
              f"rss +{max(0.0, rss.peak - rss.before):.0f} MB")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
