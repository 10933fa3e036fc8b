"""The registry pages' API calls at scale: the time of each call each page makes, against a server
holding --models registered models, one registered model of --versions versions (the last made by a run)
and --records records, and a webhook of 100 deliveries.

    .venv/bin/python bench/pages.py [--models 10000] [--versions 100] [--records 1000000] [--runs 5]

Starts the server as ./run.sh does (embedded MongoDB and S3, on free loopback ports, in a temporary
folder), loads the models, registered models and records straight into the database (as an operator's
bulk load would, then counting their name ranges), makes the versions, aliases and a promotion request
through the API, then times every call each page makes on a first load (median of --runs, measured by the
client over loopback, so it includes HTTP) and prints them with each page's server time, the sum of its
calls (the pages run some at once, so a browser waits less). Target: <= 100 ms a page. The last line is
`pages: <page> <ms> ms, ...` (each page's server time).
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


def seed_webhook(db, company: str, user: str, deliveries: int) -> str:
    """A webhook with `deliveries` delivered deliveries, written as the delivery process leaves them."""
    now = datetime.now(timezone.utc)
    hook = uuid.uuid4().hex
    db["webhooks"].insert_one({"_id": hook, "company": company, "user": user, "url": "https://hooks.example.com/in",
                               "kinds": ["model.*"], "secret": "s" * 16, "created": now, "last_update": now,
                               "state": "active", "failing_since": None, "last_error": None, "cursor": deliveries,
                               "retry_at": None, "queued": False, "lease_holder": None, "lease_expires": None})
    db["webhook_deliveries"].insert_many([
        {"_id": uuid.uuid4().hex, "company": company, "webhook": hook, "seq": seq, "kind": "model.updated",
         "state": "delivered", "attempts": 1, "status": 200, "error": None, "created": now, "first_attempt": now,
         "last_attempt": now, "next_attempt": None, "delivered": now, "expires": None}
        for seq in range(1, deliveries + 1)])
    return hook


def page_loads(args, name: str, ids: list[str], run: str, hook: str, user: str, last: datetime) -> dict:
    """Each page's API calls, in the order the page makes them on a first load (server/http/registry_pages/),
    with the names it looks up (users, projects) read once for the ids it shows."""
    latest = ids[-1]
    names = [("users.get_all", {"id": [user], "only_fields": ["id", "name"], "page": 0, "page_size": 1})]
    projects = [("projects.get_all", {"id": ["p" * 32], "only_fields": ["id", "name"], "page": 0, "page_size": 1})]
    window = {"model": latest, "order_by": ["-timestamp"], "page": 0, "page_size": 50,
              "start_timestamp": (last - timedelta(minutes=25)).isoformat()}
    records = [("models.get_by_id", {"model": latest}), ("models.get_datasets", {"model": latest})]
    picker = [("projects.get_all", {"only_fields": ["id", "name"], "order_by": ["name"], "page": 0, "page_size": 500})]
    return {
        "models": [("models.get_registered", {"page": 0, "page_size": 20}), *picker],
        "models, a search": [("models.get_registered", {"search": "model-00042", "page": 0, "page_size": 20}), *picker],
        "models, a deep page": [("models.get_registered", {"page": args.models // 40, "page_size": 20}), *picker],
        "model": [("models.get_versions", {"name": name, "page": 0, "page_size": 50}), *names, *projects,
                  ("models.get_alias_history", {"name": name, "alias": "champion", "limit": 20}),
                  ("models.get_alias_history", {"name": name, "alias": "staging", "limit": 20})],
        "model, compared": [("models.get_by_id", {"model": ids[-1]}), ("models.get_by_id", {"model": ids[-2]})],
        "version": [("models.get_by_id", {"model": latest}), ("models.get_lineage", {"model": latest}), *names,
                    *projects],
        "run": [("tasks.get_by_id", {"task": run}), ("models.get_all", {"id": ids[:1], "only_fields": ["id"]}),
                ("models.get_all", {"id": [latest], "only_fields": ["id"]}),
                ("models.get_all", {"task": [run], "only_fields": ["id"], "page": 0, "page_size": 100}), *names],
        "records": [*records,
                    ("records.get_all", {"model": latest, "page": 0, "page_size": 20, "only_fields": ["data"]}),
                    ("records.get_series", {"model": latest, "field": "label", "max_points": 1000}),
                    ("records.get_all", window)],
        "records, a field": [*records, ("records.get_series", {"model": latest, "field": "score", "max_points": 1000}),
                             ("records.get_all", window)],
        "records, a site": [*records, ("records.get_series", {"model": latest, "field": "score", "site": "site3",
                                                              "max_points": 1000}),
                            ("records.get_all", {**window, "site": "site3"})],
        "records, 5000 points": [*records, ("records.get_series", {"model": latest, "field": "score", "site": "site3",
                                                                   "max_points": 5000}),
                                 ("records.get_all", {**window, "site": "site3"})],
        "promotion": [("promotions.get_all", {"state": "open", "page": 0, "page_size": 100}),
                      ("promotions.get_all", {"page": 0, "page_size": 100}),
                      ("models.get_alias_rules", {"project": None}), *names, *projects],
        "audit": [("audit.get_all", {"page": 0, "page_size": 50}),
                  ("users.get_all", {"only_fields": ["id", "name"], "page": 0, "page_size": 500}), *names],
        "webhooks": [("webhooks.get_all", {}),
                     ("webhooks.get_deliveries", {"webhook": hook, "page": 0, "page_size": 100})],
    }


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
                   for v in range(args.versions - 1)]
            run = call(s, "tasks.create", {"name": "bench run", "type": "training"})["id"]
            call(s, "tasks.add_or_update_model", {"task": run, "name": "base", "model": ids[0], "type": "input"})
            ids.append(call(s, "models.create", {"name": name, "uri": "file:///tmp/last.pt", "task": run})["id"])
            latest = ids[-1]
            for model in ids[-5:]:
                call(s, "models.set_alias", {"model": model, "alias": "staging"})
            call(s, "models.protect_alias", {"name": name, "alias": "champion", "reviewers": {"roles": ["admin"]}})
            call(s, "promotions.create", {"model": latest, "alias": "champion", "reason": "bench"})
            db = connect(s.mongo_uri, "modelreg", timeout_ms=3_600_000)
            doc = db["models"].find_one({"_id": latest})
            company, user = doc["company"], doc["user"]
            hook = seed_webhook(db, company, user, 100)
            print(f"loaded {args.models} registered models in {load_models(db, company, user, args.models):.1f} s",
                  flush=True)
            seconds = insert_records(db, company, user, latest, args.records, 10_000)
            print(f"loaded {args.records} records in {seconds:.1f} s", flush=True)

            last = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=30 * (args.records - 1))
            totals = {}
            for page, calls in page_loads(args, name, ids, run, hook, user, last).items():
                times = []
                for endpoint, body in calls:
                    ms = median_ms(lambda e=endpoint, b=body: call(s, e, b), args.runs)
                    times.append(ms)
                    shown = {k: v for k, v in body.items()
                             if k not in ("model", "id", "task", "webhook", "only_fields", "start_timestamp")}
                    print(f"  {page:<20} {endpoint:<24} {ms:8.1f} ms  {shown}", flush=True)
                totals[page] = sum(times)
                print(f"{page}: {len(calls)} calls, server time {sum(times):.1f} ms, slowest {max(times):.1f} ms",
                      flush=True)
            print(f"sizes: {args.models} registered models, {args.versions} versions, {args.records} records")
            print("pages: " + ", ".join(f"{page} {ms:.0f} ms" for page, ms in totals.items()))
        finally:
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
