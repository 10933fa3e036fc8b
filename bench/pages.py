"""The registry pages' API calls at scale: the time of each call each page makes, against a server
holding --models registered models, one registered model of --versions versions and --records records.

    .venv/bin/python bench/pages.py [--models 10000] [--versions 100] [--records 1000000] [--runs 5]

Starts the server as ./run.sh does (embedded MongoDB and S3, on free loopback ports, in a temporary
folder), loads the models, registered models and records straight into the database (as an operator's
bulk load would, then counting their name ranges), makes the versions, aliases and a promotion request
through the API, then times every call of each page (median of --runs, measured by the client over
loopback, so it includes HTTP) and prints them with each page's sum. Target: <= 100 ms per call. The
last line is `pages: <page> <ms> ms ...` (each page's slowest call).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.error
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stack  # noqa: E402
from bench.records import insert as insert_records  # noqa: E402
from bench.records import median_ms  # noqa: E402
from database.collections import model_versions_db, models_db, registered_ranges_db  # noqa: E402
from database.connection import connect  # noqa: E402

V = "2.99"
BATCH = 2000


def call(s: stack.Stack, endpoint: str, body: dict) -> dict:
    try:
        return stack.post_json(f"{s.url}/api/v{V}/{endpoint}", body, {"Authorization": s.basic}, timeout=600)["data"]
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{endpoint} answered {exc.code}: {exc.read()[:300]!r}") from None


def load_models(db, company: str, user: str, count: int) -> float:
    """`count` registered models of one version each, as models.create would leave them."""
    began = time.perf_counter()
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    models, registered = [], []
    for n in range(count):
        name = f"model-{n:07d}"
        doc = {"company": company, **models_db.new_model_doc(user, {"name": name, "uri": f"s3://b/{n}.pt"})}
        doc["created"] = doc["last_update"] = doc["last_change"] = start + timedelta(minutes=n)
        doc["version"] = 1
        models.append(doc)
        registered.append({"_id": uuid.uuid4().hex, "company": company, "project": None, "name": name,
                           "created": doc["created"], "last_version": 1, "aliases": {}, "alias_seq": 0})
        if len(models) == BATCH:
            db[models_db.MODELS].insert_many(models, ordered=False)
            db[model_versions_db.REGISTERED_MODELS].insert_many(registered, ordered=False)
            models, registered = [], []
    if models:
        db[models_db.MODELS].insert_many(models, ordered=False)
        db[model_versions_db.REGISTERED_MODELS].insert_many(registered, ordered=False)
    registered_ranges_db.rebuild(db, company)  # as after any load around the API (docs/search-plans.md)
    return time.perf_counter() - began


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="modelreg-pages-bench-") as tmp:
        s = stack.start_modelreg(Path(tmp))
        try:
            name = "bench-model"
            ids = [call(s, "models.create", {"name": name, "uri": f"file:///tmp/{v}.pt"})["id"]
                   for v in range(args.versions)]
            latest = ids[-1]
            for model in ids[-5:]:
                call(s, "models.set_alias", {"model": model, "alias": "staging"})
            call(s, "models.protect_alias", {"name": name, "alias": "champion", "reviewers": {"roles": ["admin"]}})
            call(s, "promotions.create", {"model": latest, "alias": "champion", "reason": "bench"})
            db = connect(s.mongo_uri, "modelreg", timeout_ms=3_600_000)
            doc = db["models"].find_one({"_id": latest})
            company, user = doc["company"], doc["user"]
            print(f"loaded {args.models} registered models in {load_models(db, company, user, args.models):.1f} s",
                  flush=True)
            seconds = insert_records(db, company, user, latest, args.records, 10_000)
            print(f"loaded {args.records} records in {seconds:.1f} s", flush=True)

            # the page reads the newest records inside the window its series' counts give (~one page)
            last = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=30 * (args.records - 1))
            newest = {"model": latest, "order_by": ["-timestamp"], "page": 0,
                      "start_timestamp": (last - timedelta(minutes=25)).isoformat()}
            pages = {
                "models": [("models.get_registered", {"page": 0, "page_size": 20}),
                           ("models.get_registered", {"search": "model-00042", "page": 0, "page_size": 20}),
                           ("models.get_registered", {"page": args.models // 40, "page_size": 20}),
                           ("projects.get_all", {"only_fields": ["id", "name"], "page": 0, "page_size": 500})],
                "model": [("models.get_versions", {"name": name, "page": 0, "page_size": 50}),
                          ("models.get_alias_history", {"name": name, "alias": "staging", "limit": 20}),
                          ("models.get_by_id", {"model": ids[0]})],
                "version": [("models.get_by_id", {"model": latest}), ("models.get_lineage", {"model": latest})],
                "records": [("records.get_all", {**newest, "page_size": 20, "only_fields": ["data"]}),
                            ("records.get_all", {**newest, "page_size": 50}),
                            ("models.get_datasets", {"model": latest}),
                            ("records.get_series", {"model": latest, "max_points": 1000}),
                            ("records.get_series", {"model": latest, "field": "score", "max_points": 1000}),
                            ("records.get_series", {"model": latest, "field": "score", "site": "site3",
                                                    "max_points": 5000})],
                "promotion": [("promotions.get_all", {"state": "open", "page": 0, "page_size": 100}),
                              ("promotions.get_all", {"page": 0, "page_size": 100}),
                              ("models.get_alias_rules", {"project": None}),
                              ("models.get_alias_rules", {"project": None, "name": name})],
                "audit": [("audit.get_all", {"page": 0, "page_size": 50})],
            }
            slowest = {}
            for page, calls in pages.items():
                times = []
                for endpoint, body in calls:
                    ms = median_ms(lambda e=endpoint, b=body: call(s, e, b), args.runs)
                    times.append(ms)
                    shown = {k: v for k, v in body.items() if k not in ("model", "only_fields", "start_timestamp")}
                    print(f"  {page:<9} {endpoint:<24} {ms:8.1f} ms  {shown}", flush=True)
                slowest[page] = max(times)
                print(f"{page}: {len(calls)} calls, sum {sum(times):.1f} ms, slowest {max(times):.1f} ms", flush=True)
            print(f"sizes: {args.models} registered models, {args.versions} versions, {args.records} records")
            print("pages: " + " ".join(f"{page} {ms:.0f} ms" for page, ms in slowest.items()))
        finally:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
