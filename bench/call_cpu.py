"""CPU per call in one process: our app (full stack, Bearer auth, the call's log line and metrics) against the
bare falcon app of bench/overhead.py (the same pymongo call, no auth, no schema, no envelope), both called
straight through WSGI (no gunicorn, no sockets), against the embedded MongoDB.

The two are called in turn, one call each, and each call's CPU time (`time.thread_time`) is taken on its
own: a machine whose speed drifts (a shared VM, a neighbour's load) slows both sides of a pair alike, so the
ratio holds where the microseconds do not. Prints the ratio of the sums and the median of the pairs' ratios.

    .venv/bin/python bench/call_cpu.py [--call get|page] [--pairs 1000] [--profile] [--no-log]

`get`: `models.get_by_id` of one of 1,000 models; `page`: the `models.get_all` page of 100 of overhead.py
(kept pages off, as there). `--profile` adds a cProfile of ours.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COMPANY = "company_p_" + "0" * 22


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--call", choices=("get", "page"), default="get")
    parser.add_argument("--pairs", type=int, default=1000, help="calls of each app, in turn")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--cumulative", default="wt-overhead|falcon", help="which functions' cumulative times")
    parser.add_argument("--no-log", action="store_true", help="without the call's log line")
    args = parser.parse_args()

    from server.process.embedded import free_port, start_mongo

    folder = Path(tempfile.mkdtemp())
    port = free_port()
    mongo = start_mongo(folder / "db", port, folder / "log")
    uri = f"mongodb://127.0.0.1:{port}"
    os.environ.update(MODELREG_MONGO_URI=uri, MODELREG_MONGO_DATABASE="modelreg",
                      MODELREG_AUTH_TOKEN_SECRET="s" * 32, MODELREG_SERVER_DATA_DIR=str(folder),
                      MODELREG_QUERY_PAGE_CACHE_ENTRIES="0", PROMETHEUS_MULTIPROC_DIR=str(folder / "prom"),
                      BENCH_MONGO_URI=uri, BENCH_DB="modelreg", BENCH_COMPANY=COMPANY)
    (folder / "prom").mkdir()
    try:
        run(args, uri)
    finally:
        mongo.process.kill()


def run(args, uri: str) -> None:
    from bench import overhead
    from server.config import load_config
    from server.http import call_log
    from server.http.app import create_app
    from tests.helpers import make_user

    config = load_config()
    if not args.no_log:
        call_log.configure(config)
    app = create_app(config)
    user = make_user(app, "bench", COMPANY, role="admin")
    ids = overhead.seed(uri, COMPANY)
    # Bearer, as the ClearML SDK calls once signed in
    authorization = "Bearer " + user.call("auth.login", {}).json["data"]["token"]
    bare = overhead._make_bare()
    if args.call == "get":
        rng = random.Random(7)
        bodies = [json.dumps({"model": rng.choice(ids)}).encode() for _ in range(args.pairs)]
        ours_path, bare_path = "/api/v2.13/models.get_by_id", "/get_by_id"
    else:
        bodies = [json.dumps(overhead.PAGE_REQUEST).encode()] * args.pairs
        ours_path, bare_path = "/api/v2.13/models.get_all", "/get_all"

    def environ(path: str, body: bytes) -> dict:
        return {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "x",
                "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
                "HTTP_AUTHORIZATION": authorization, "REMOTE_ADDR": "127.0.0.1", "wsgi.errors": sys.stderr}

    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    def call(wsgi, path: str, body: bytes) -> bytes:
        return b"".join(wsgi(environ(path, body), start_response))

    served = json.loads(call(app, ours_path, bodies[0]))["data"]
    direct = json.loads(call(bare, bare_path, bodies[0]))["data"]
    assert served.keys() == direct.keys() and set(statuses) == {"200 OK"}, (served, direct, statuses)
    for body in bodies[:200]:  # warm up both
        call(app, ours_path, body)
        call(bare, bare_path, body)

    clock = time.thread_time
    ours, theirs = [], []
    for body in bodies:
        started = clock()
        call(app, ours_path, body)
        middle = clock()
        call(bare, bare_path, body)
        ours.append(middle - started)
        theirs.append(clock() - middle)
    ratio = sum(ours) / sum(theirs)
    paired = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
    print(f"call_cpu {args.call}: {args.pairs} pairs, CPU per call ours {statistics.median(ours) * 1e6:.0f} us, "
          f"bare {statistics.median(theirs) * 1e6:.0f} us (medians); ours/bare: sums {ratio:.2f}, pairs' median "
          f"{paired:.2f}")
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        for body in bodies:
            call(app, ours_path, body)
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(45)
        stats.sort_stats("cumulative").print_stats(args.cumulative, 60)


if __name__ == "__main__":
    main()
