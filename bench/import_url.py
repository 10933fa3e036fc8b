"""models.import_url throughput next to models.upload of the same bytes, and the cost of numbering
versions at create.

    .venv/bin/python -m bench.import_url [--size-mb 256] [--creates 200] [--workdir /tmp/x]

Starts its own secantusd-py and weed mini, serves a file of random bytes from a local http.server
(127.0.0.1, allowed by this script's configuration only), and calls the app in-process (falcon's
TestClient, no gunicorn) so both paths go through the same dispatcher. Prints MB/s of each path and
the mean time of models.create at 2.13 (which numbers the version) for `--creates` creates of one name.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from falcon import testing

from database.collections import users_db
from server.config import load_config, schema_dir
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from server.process.embedded import free_port, start_mongo, start_s3
from services.handlers import all_handlers

MB = 1024 * 1024


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelreg-bench-import-"))
    served = work / "www"
    served.mkdir(parents=True, exist_ok=True)
    size = args.size_mb * MB
    digest = hashlib.sha256()
    with open(served / "weights.bin", "wb") as out:
        for _ in range(args.size_mb):
            block = os.urandom(MB)
            digest.update(block)
            out.write(block)
    access_key, secret_key, bucket = "BENCH" + secrets.token_hex(6).upper(), secrets.token_hex(20), "modelreg-bench"
    mongo = start_mongo(work / "mongo", free_port(), work / "mongo.log")
    s3 = start_s3(work / "s3", free_port(), access_key, secret_key, bucket, work / "s3.log")
    http = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        config = load_config(overrides={
            "mongo.uri": mongo.address, "mongo.database": "bench_import", "auth.token_secret": secrets.token_hex(32),
            "s3.endpoint": s3.address, "s3.access_key": access_key, "s3.secret_key": secret_key, "s3.bucket": bucket,
            "import.allowed_hosts": ["127.0.0.1"], "outbound.allow_private_networks": True,
            "import.max_bytes": size + 1, "server.public_url": "http://127.0.0.1:8008",
        }, env={})
        app = create_app(config, build_state(config, load_registry(schema_dir(config), all_handlers().keys())))
        db = app.modelreg_state.stores.db
        user = users_db.create_user(db, "bench", "bench_company_" + secrets.token_hex(4), "bench", "admin")
        key, secret = "BENCH" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
        users_db.add_credential(db, user, key, secret)
        client = testing.TestClient(app)
        auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}

        def call(endpoint, body, **kwargs):
            reply = client.simulate_post(f"/api/v2.99/{endpoint}", json=body, headers=auth, **kwargs)
            assert reply.status_code == 200, reply.text
            return reply.json["data"]

        model = call("models.create", {"name": "bench-import", "uri": "x"})["id"]
        started = time.perf_counter()
        reply = call("models.import_url", {"model": model, "url": f"http://127.0.0.1:{http.server_port}/weights.bin"})
        imported = time.perf_counter() - started
        assert reply["sha256"] == digest.hexdigest()
        body = (served / "weights.bin").read_bytes()
        started = time.perf_counter()
        client.simulate_post("/api/v2.13/models.upload", params={"model": model}, body=body,
                             headers={**auth, "Content-Type": "application/octet-stream"})
        uploaded = time.perf_counter() - started
        print(f"import_url {args.size_mb} MB: {size / MB / imported:.0f} MB/s ({imported:.2f} s)")
        print(f"upload     {args.size_mb} MB: {size / MB / uploaded:.0f} MB/s ({uploaded:.2f} s, body in memory)")
        started = time.perf_counter()
        for _ in range(args.creates):
            call("models.create", {"name": "bench-versions", "uri": "x"})
        per_create = (time.perf_counter() - started) / args.creates
        versions = call("models.get_versions", {"name": "bench-versions", "page_size": 1})
        print(f"models.create with version numbering: {per_create * 1000:.1f} ms mean over {args.creates} "
              f"(last_version {versions['last_version']})")
    finally:
        http.shutdown()
        http.server_close()
        s3.stop()
        mongo.stop()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
