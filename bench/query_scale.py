"""How models.get_all scales: a filtered, ordered, paged query at 10k and 100k models.

Loads realistic model documents with insert_many into a fresh database on the embedded MongoDB-compatible
server (started here as a child process), or on the server named by TEST_MONGO_URI. For each size it prints
the median latency of the same query through the service (the real app behind falcon's TestClient:
dispatcher, auth, validation, query engine, envelope) and with bare pymongo sending the same filter document,
the ratios, the winning plan from `explain`, and the time of the same parts sent under one `$and`.

    .venv/bin/python bench/query_scale.py [--sizes 10000 100000] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcon import testing  # noqa: E402

from database import connection, indexes
from database.collections import models_db, users_db
from database.collections.scope import Scope
from database.query import shape as query_shape
from server.config import load_config, schema_dir  # noqa: E402
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from server.process import embedded
from services.handlers import all_handlers  # noqa: E402
from tests.helpers import basic  # noqa: E402

COMPANY = "bench_company_" + "0" * 18
PROJECTS = [f"project{i:02d}" + "0" * 23 for i in range(20)]
FRAMEWORKS = ["PyTorch", "TensorFlow", "Keras", "ONNX", "scikit-learn"]
TAGS = ["prod", "staging", "baseline", "candidate", "vision", "nlp", "speech", "tabular"]
PAGE = 1
PAGE_SIZE = 25
FIELDS = ["id", "name", "created", "tags", "framework", "uri"]
BATCH = 5000


def model_docs(count: int, user: str, seed: int = 7):
    """Model documents shaped like the ones models.create stores, spread over projects, tags and time."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for number in range(count):
        fields = {
            "name": f"model-{number:07d}",
            "uri": f"s3://bucket/models/{number:07d}/weights.pt",
            "comment": "trained on the nightly data set" if number % 3 else "",
            "project": rng.choice(PROJECTS),
            "framework": rng.choice(FRAMEWORKS),
            "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "system_tags": ["archived"] if rng.random() < 0.1 else [],
            "labels": {"background": 0, "cat": 1, "dog": 2},
            "design": {"design": "layers = 3\nact = \"relu\""},
            "ready": rng.random() < 0.5,
            "metadata": {"accuracy": {"key": "accuracy", "type": "float", "value": f"{rng.random():.4f}"}},
        }
        doc = {"company": COMPANY, **models_db.new_model_doc(user, fields)}
        doc["created"] = doc["last_update"] = doc["last_change"] = start + timedelta(minutes=number)
        yield doc


def load(db, count: int, user: str) -> float:
    began = time.perf_counter()
    batch = []
    for doc in model_docs(count, user):
        batch.append(doc)
        if len(batch) == BATCH:
            db[models_db.MODELS].insert_many(batch, ordered=False)
            batch = []
    if batch:
        db[models_db.MODELS].insert_many(batch, ordered=False)
    return time.perf_counter() - began


def service_query() -> dict:
    return {"project": [PROJECTS[3]], "tags": ["prod"], "system_tags": ["-archived"], "order_by": ["-created"],
            "page": PAGE, "page_size": PAGE_SIZE, "only_fields": FIELDS}


def pymongo_parts() -> list[dict]:
    return [
        Scope(None, COMPANY).models.readable(),
        {"project": {"$in": [PROJECTS[3]]}},
        {"tags": {"$in": ["prod"]}},
        {"system_tags": {"$nin": ["archived"]}},
    ]


PROJECTION = {"_id": 1, "name": 1, "created": 1, "tags": 1, "framework": 1, "uri": 1}


def pymongo_query(db, flat: bool = True) -> list[dict]:
    """The service's query with bare pymongo: the flat shape the service sends (`flat`), or the `$and` of
    the parts that it sent before (for comparison)."""
    query = query_shape.match(db, models_db.SPEC, pymongo_parts()) if flat else {"$and": pymongo_parts()}
    cursor = (db[models_db.MODELS].find(query, PROJECTION).sort([("created", -1), ("_id", 1)])
              .skip(PAGE * PAGE_SIZE).limit(PAGE_SIZE))
    return list(cursor)


def plan(db, flat: bool, lead_only: bool = False) -> str:
    """The winning plan's stages, outermost first, as the server's `explain` reports them. `lead_only`:
    for the first clause of the flat filter alone. The embedded server's explain does not model its
    first-clause fallback (storage.py: `_pick_index_for_filter` has no counterpart of the last loop of
    `_try_index_id_keys`), so for a whole filter with a `$nin` it reads COLLSCAN while the candidates come
    from the index of the first clause that has one; `lead_only` shows that clause's plan."""
    query = query_shape.match(db, models_db.SPEC, pymongo_parts()) if flat else {"$and": pymongo_parts()}
    if lead_only:  # the first clause, in key order, that the server has an index for
        for key, value in query.items():
            if not key.startswith("$") and "IXSCAN" in plan_of(db, {key: value}):
                return f"{key}: " + plan_of(db, {key: value})
        return "none"
    return plan_of(db, query)


def plan_of(db, query: dict) -> str:
    explained = db.command("explain", {"find": models_db.MODELS, "filter": query, "sort": {"created": -1, "_id": 1},
                                       "skip": PAGE * PAGE_SIZE, "limit": PAGE_SIZE}, verbosity="queryPlanner")
    stage, names = explained["queryPlanner"]["winningPlan"], []
    while stage:
        names.append(stage.get("stage", "?") + (f"({stage['indexName']})" if stage.get("indexName") else ""))
        stage = stage.get("inputStage") or (stage.get("inputStages") or [None])[0]
    return " <- ".join(names)


def median_ms(func, runs: int, budget_s: float = 60.0) -> tuple[float, int]:
    """Median latency in ms over `runs` calls (fewer when each takes long: about `budget_s` in all, at
    least 5), and the number of calls made."""
    began = time.perf_counter()
    func()  # warm up: connections, caches
    first = time.perf_counter() - began
    runs = min(runs, max(5, int(budget_s / max(first, 1e-6))))
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000, runs


def paired_median_ms(first, second, runs: int, budget_s: float = 90.0) -> tuple[float, float, int]:
    """Median latencies of two functions called alternately, so that a busy machine weighs on both alike."""
    began = time.perf_counter()
    first()
    second()
    once = time.perf_counter() - began
    runs = min(runs, max(5, int(budget_s / max(once, 1e-6))))
    times: tuple[list, list] = ([], [])
    for _ in range(runs):
        for func, out in ((first, times[0]), (second, times[1])):
            began = time.perf_counter()
            func()
            out.append(time.perf_counter() - began)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000, runs


def measure(mongo_uri: str, registry, size: int, runs: int) -> dict:
    database = f"bench_{size}_{secrets.token_hex(4)}"
    # kept pages off: every call runs the query, which is what this measures
    config = load_config(overrides={"mongo.uri": mongo_uri, "mongo.database": database, "mongo.timeout_ms": 30000,
                                    "auth.token_secret": secrets.token_hex(32), "auth.default_company": COMPANY,
                                    "query.page_cache_entries": 0},
                         env={})
    db = connection.connect(mongo_uri, database, 30000)
    try:
        user = users_db.create_user(db, "bench", COMPANY, "bench", "admin")
        key, secret = "BENCH" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        users_db.add_credential(db, user, key, secret)
        load_seconds = load(db, size, user["_id"])
        began = time.perf_counter()
        indexes.ensure_indexes(db)  # after the load: building them once is far cheaper than per insert
        index_seconds = time.perf_counter() - began
        app = create_app(config, build_state(config, registry))
        client = testing.TestClient(app)
        headers = {"Authorization": basic(key, secret), "Content-Type": "application/json"}
        body = json.dumps(service_query())

        def through_service():
            result = client.simulate_post("/api/v2.23/models.get_all", body=body, headers=headers)
            assert result.status_code == 200, result.text
            return result.json["data"]["models"]

        served, direct = through_service(), pymongo_query(db)
        assert [m["id"] for m in served] == [d["_id"] for d in direct], "service and pymongo disagree"
        service_ms, pymongo_ms, service_runs = paired_median_ms(through_service, lambda: pymongo_query(db), runs)
        pymongo_runs = service_runs
        assert [d["_id"] for d in pymongo_query(db, flat=False)] == [d["_id"] for d in direct], "shapes disagree"
        and_ms, and_runs = median_ms(lambda: pymongo_query(db, flat=False), runs, budget_s=20.0)
        return {
            "size": size, "load_s": load_seconds, "index_s": index_seconds, "page_len": len(served),
            "service_ms": service_ms, "service_runs": service_runs,
            "pymongo_ms": pymongo_ms, "pymongo_runs": pymongo_runs, "and_ms": and_ms, "and_runs": and_runs,
            "plan": plan(db, True), "lead_plan": plan(db, True, lead_only=True), "and_plan": plan(db, False),
        }
    finally:
        db.client.drop_database(database)
        db.client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    mongo_uri = os.environ.get("TEST_MONGO_URI")
    server = None
    workdir = tempfile.TemporaryDirectory(prefix="modelreg-bench-")
    if not mongo_uri:
        folder = Path(workdir.name)
        server = embedded.start_mongo(folder / "mongo", embedded.free_port(), folder / "mongo.log")
        mongo_uri = server.address
    try:
        registry = load_registry(schema_dir(load_config(env={})), all_handlers().keys())
        target = "TEST_MONGO_URI" if server is None else "embedded secantusd-py"
        print(f"models.get_all: project + tag + '-archived' filter, order_by -created, page {PAGE} of "
              f"{PAGE_SIZE}, up to {args.runs} runs each, on {target}", flush=True)
        results = []
        for size in args.sizes:
            row = measure(mongo_uri, registry, size, args.runs)
            results.append(row)
            print(f"{row['size']:>8} models (loaded in {row['load_s']:.1f} s, indexed in {row['index_s']:.1f} s): "
                  f"service {row['service_ms']:.1f} ms ({row['service_runs']} runs), "
                  f"pymongo {row['pymongo_ms']:.1f} ms ({row['pymongo_runs']} runs), "
                  f"service/pymongo {row['service_ms'] / row['pymongo_ms']:.2f}x ({row['page_len']} models per page)",
                  flush=True)
            print(f"{'':>8} explain: {row['plan']}; its first indexed clause, {row['lead_plan']}", flush=True)
            print(f"{'':>8} the same parts under one $and: {row['and_ms']:.1f} ms ({row['and_runs']} runs), "
                  f"explain {row['and_plan']}", flush=True)
        if len(results) >= 2:
            first, last = results[0], results[-1]
            print(f"service {last['size']}/{first['size']}: {last['service_ms'] / first['service_ms']:.2f}x; "
                  f"pymongo {last['size']}/{first['size']}: {last['pymongo_ms'] / first['pymongo_ms']:.2f}x")
    finally:
        if server is not None:
            server.stop()
        workdir.cleanup()


if __name__ == "__main__":
    main()
