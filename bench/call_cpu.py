"""CPU per `models.get_by_id` call in one process: our app (full stack, Bearer auth) against a bare falcon app
doing the same pymongo find, both called straight through WSGI (no gunicorn, no sockets). CPU time
(`time.thread_time`), so a busy machine changes the figures less than wall time would; many short rounds
are interleaved and the lowest and the median of each are printed with their ratio. `--profile` adds a
cProfile of ours.

    .venv/bin/python bench/call_cpu.py [--calls 600] [--rounds 15] [--profile] [--no-log]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=600, help="calls per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--cumulative", default="wt-overhead|falcon", help="which functions' cumulative times")
    parser.add_argument("--no-log", action="store_true", help="without the call's log line")
    args = parser.parse_args()

    from server.process.embedded import free_port, start_mongo

    folder = Path(tempfile.mkdtemp())
    port = free_port()
    mongo = start_mongo(folder / "db", port, folder / "log")
    os.environ.update(MODELREG_MONGO_URI=f"mongodb://127.0.0.1:{port}", MODELREG_MONGO_DATABASE="bench",
                      MODELREG_AUTH_TOKEN_SECRET="s" * 32, MODELREG_SERVER_DATA_DIR=str(folder),
                      MODELREG_QUERY_PAGE_CACHE_ENTRIES="0", PROMETHEUS_MULTIPROC_DIR=str(folder / "prom"))
    (folder / "prom").mkdir()
    try:
        run(args)
    finally:
        mongo.process.kill()


def run(args) -> None:
    import falcon

    from server.config import load_config
    from server.http import call_log
    from server.http.app import create_app
    from tests.helpers import make_user

    config = load_config()
    if not args.no_log:
        call_log.configure(config)
    app = create_app(config)
    user = make_user(app, "bench", "company_p_" + "0" * 22, role="admin")
    model = user.call("models.create", {"name": "model-one", "uri": "https://example.com/y"}).json["data"]["id"]
    body = json.dumps({"model": model}).encode()
    # Bearer, as the ClearML SDK calls once signed in
    user.authorization = "Bearer " + user.call("auth.login", {}).json["data"]["token"]

    def environ() -> dict:
        return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v2.13/models.get_by_id", "QUERY_STRING": "",
                "SERVER_NAME": "x", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
                "HTTP_AUTHORIZATION": user.authorization, "REMOTE_ADDR": "127.0.0.1", "wsgi.errors": sys.stderr}

    def start_response(status, headers, exc_info=None):
        pass

    models = app.modelreg_state.stores.db["models"]

    class Bare:
        def on_post(self, req, resp):
            data = json.loads(req.bounded_stream.read())
            doc = models.find_one({"_id": data["model"]})
            resp.text = json.dumps({"model": {"id": doc["_id"], "name": doc["name"]}}, default=str)

    bare = falcon.App()
    bare.add_route("/api/v2.13/models.get_by_id", Bare())

    def calls(wsgi, n: int) -> None:
        for _ in range(n):
            b"".join(wsgi(environ(), start_response))

    runs = {"ours": [], "bare": []}
    calls(app, 300)
    calls(bare, 300)
    for _ in range(args.rounds):
        for name, wsgi in (("ours", app), ("bare", bare)):
            started = time.thread_time()
            calls(wsgi, args.calls)
            runs[name].append((time.thread_time() - started) / args.calls * 1e6)
    low = {name: min(values) for name, values in runs.items()}
    mid = {name: statistics.median(values) for name, values in runs.items()}
    print(f"CPU per call, {args.rounds} rounds of {args.calls}: lowest ours {low['ours']:.1f} us, bare "
          f"{low['bare']:.1f} us, ratio {low['ours'] / low['bare']:.2f}; median ours {mid['ours']:.1f} us, bare "
          f"{mid['bare']:.1f} us, ratio {mid['ours'] / mid['bare']:.2f}")
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        calls(app, args.calls)
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(45)
        stats.sort_stats("cumulative").print_stats(args.cumulative, 60)


if __name__ == "__main__":
    main()
