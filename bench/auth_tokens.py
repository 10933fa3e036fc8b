"""What checking the key pair costs a call, with the credential lease (the default) and without it
(`auth.credential_lease_ms: 0`: one lookup by `_id` per Bearer call, two per Basic call).

Starts the embedded MongoDB-compatible server (or uses TEST_MONGO_URI), builds the real app (falcon's
TestClient: dispatcher, auth, envelope) both ways and prints median latencies over --runs calls of
`server.info` with Basic auth and with a Bearer token, the bare lookup, and how long
`auth.revoke_credentials` takes (it answers after one lease).

It then counts the reads behind a stream of calls with one key pair (Basic and Bearer, for
--seconds): at most one credential lookup per kind per `auth.credential_recheck_sec`, and one read of
the shared counter per lease, however many calls.

    .venv/bin/python bench/auth_tokens.py [--runs 2000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcon import testing  # noqa: E402
from pymongo import monitoring  # noqa: E402

from database import connection, indexes
from database.collections import users_db
from server.config import load_config, schema_dir  # noqa: E402
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from server.process import embedded
from services.handlers import all_handlers  # noqa: E402
from tests.helpers import basic  # noqa: E402


def _median_ms(func, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


class _FindCounter(monitoring.CommandListener):
    """Counts `find` commands per collection (registered before any client is made)."""

    def __init__(self):
        self.finds: collections.Counter = collections.Counter()

    def started(self, event):
        if event.command_name == "find":
            self.finds[event.command["find"]] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


FINDS = _FindCounter()
monitoring.register(FINDS)


def _app(mongo_uri: str, database: str, token_secret: str, lease_ms: int, recheck_sec: float = 5):
    config = load_config(overrides={"mongo.uri": mongo_uri, "mongo.database": database,
                                    "auth.token_secret": token_secret, "auth.credential_lease_ms": lease_ms,
                                    "auth.credential_recheck_sec": recheck_sec}, env={})
    registry = load_registry(schema_dir(config), all_handlers().keys())
    return testing.TestClient(create_app(config, build_state(config, registry)))


def count_reads(mongo_uri: str, database: str, token_secret: str, basic_header: dict, seconds: float) -> None:
    recheck_sec = 1.0
    client = _app(mongo_uri, database, token_secret, 500, recheck_sec)
    token = client.simulate_post("/auth.login", headers=basic_header).json["data"]["token"]
    calls, began = 0, time.monotonic()
    FINDS.finds.clear()
    while time.monotonic() - began < seconds:
        for headers in (basic_header, {"Authorization": f"Bearer {token}"}):
            assert client.simulate_post("/v2.12/server.info", headers=headers).status_code == 200
            calls += 1
    elapsed = time.monotonic() - began
    print(f"{calls} calls (Basic and Bearer alternating) in {elapsed:.1f} s, credential_recheck_sec {recheck_sec}, "
          f"lease 500 ms: reads {dict(FINDS.finds)}")
    client.app.modelreg_state.stores.db.client.close()


def measure(mongo_uri: str, runs: int, seconds: float) -> None:
    database = f"bench_auth_{secrets.token_hex(4)}"
    token_secret = secrets.token_hex(32)
    db = connection.connect(mongo_uri, database)
    try:
        indexes.ensure_indexes(db)
        user = users_db.create_user(db, "bench", "bench_company", "bench", "admin")
        key, secret = "BENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        users_db.add_credential(db, user, key, secret)
        basic_header = {"Authorization": basic(key, secret)}
        for lease_ms in (500, 0):
            client = _app(mongo_uri, database, token_secret, lease_ms)
            token = client.simulate_post("/auth.login", headers=basic_header).json["data"]["token"]
            bearer_header = {"Authorization": f"Bearer {token}"}

            def call(headers, client=client):
                assert client.simulate_post("/v2.12/server.info", headers=headers).status_code == 200

            for _ in range(50):  # warm-up
                call(bearer_header)
            basic_ms = _median_ms(lambda: call(basic_header), runs)  # noqa: B023 - used at once
            bearer_ms = _median_ms(lambda: call(bearer_header), runs)  # noqa: B023 - used at once
            extra = client.simulate_post("/v2.1/auth.create_credentials", headers=basic_header).json["data"]
            began = time.perf_counter()
            revoke = client.simulate_post("/v2.1/auth.revoke_credentials", headers=basic_header,
                                          json={"access_key": extra["credentials"]["access_key"]})
            revoke_ms = (time.perf_counter() - began) * 1000
            assert revoke.json["data"] == {"revoked": 1}
            print(f"credential_lease_ms {lease_ms}: server.info, median of {runs} calls: Basic {basic_ms:.3f} ms, "
                  f"Bearer {bearer_ms:.3f} ms; auth.revoke_credentials {revoke_ms:.0f} ms")
            client.app.modelreg_state.stores.db.client.close()
        lookup_ms = _median_ms(lambda: users_db.credential_owner(db, key), runs)
        print(f"the key-pair lookup alone: {lookup_ms:.3f} ms")
        count_reads(mongo_uri, database, token_secret, basic_header, seconds)
    finally:
        db.client.drop_database(database)
        db.client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    mongo_uri = os.environ.get("TEST_MONGO_URI")
    server = None
    workdir = tempfile.TemporaryDirectory(prefix="modelreg-bench-")
    if not mongo_uri:
        folder = Path(workdir.name)
        server = embedded.start_mongo(folder / "mongo", embedded.free_port(), folder / "mongo.log")
        mongo_uri = server.address
    try:
        measure(mongo_uri, args.runs, args.seconds)
    finally:
        if server is not None:
            server.stop()
        workdir.cleanup()


if __name__ == "__main__":
    main()
