"""What our stack costs per call: the full server against a bare falcon app and bare pymongo, same run.

Two calls, each three ways, rounds interleaved:
  (a) the full stack, started as ./run.sh starts it (`python -m server serve`: embedded MongoDB and S3,
      gunicorn with the launcher's settings), with Bearer and with Basic auth;
  (b) a bare falcon app under gunicorn with the same settings doing the same pymongo call (no auth, no schema,
      no envelope);
  (c) bare pymongo, 8 threads in a separate process.
Calls: `models.get_by_id` of a random one of 1,000 models, and a `models.get_all` page of 100 (tag + '-archived'
filter, order_by -created). Load: wrk, 2 threads, 8 connections (installed from Debian's packages when
missing). Prints requests/s, p50/p99 and the CPU time the database and the serving workers spent per call,
per run and median over the rounds, the ratios a/b and b/c, RSS per gunicorn worker at idle and after, and
ends with `overhead: get_by_id a/b=<ratio> page a/b=<ratio>` (Bearer).

Then the worker CPU per call at a paced load, (a) Bearer against (b), taking turns in short slices within
each round: each of the 8 connections waits after every answer (PACE_MS), so the machine is not saturated
and a call's CPU is its own rather than that of the scheduling and cache contention of two cores running
flat out; printed round by round with the ratio of each and their median, and as the line
`cpu: get_by_id ours/bare=<median ratio> page ours/bare=<median ratio>`.

    ./run.sh bench overhead [--rounds 3] [--seconds 6] [--paced-only]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stack  # noqa: E402

MODELS = 1000
PAGE_SIZE = 100
SETTLE_SEC = 3
TAGS = ["prod", "staging", "baseline", "candidate", "vision", "nlp"]
PACE_MS = {"get": 20, "page": 400}  # per connection, after each answer: about 350 and 18 calls/s
PACED_SLICES = 4  # ours and bare take turns this many times in each paced round
PAGE_REQUEST = {"tags": ["prod"], "system_tags": ["-archived"], "order_by": ["-created"], "page": 0,
                "page_size": PAGE_SIZE}


# ---- the same pymongo calls, shared by (b) and (c) -----------------------------------------------------------------

def page_filter(company: str) -> dict:
    """The filter document the service sends the embedded server for PAGE_REQUEST (as database/query/engine.py
    builds it)."""
    from database.collections import models_db
    from database.collections.scope import Scope
    from database.query import shape

    return shape.flatten([Scope(None, company).models.readable(), {"tags": {"$in": ["prod"]}},
                          {"system_tags": {"$nin": ["archived"]}}],
                         models_db.SPEC.narrow_first, models_db.SPEC.wide_last)


def get_call(coll, company: str, model_id: str):
    """The scoped layer's get itself: the data layer's one pymongo call (and its company check), nothing above it."""
    from database.collections.scope import Scope

    return Scope(coll.database, company).models.get(model_id)


def page_call(coll, company: str) -> list:
    from database.collections.scope import Scope

    cursor = coll.find(page_filter(company), Scope(coll.database, company).models.default_projection())
    return list(cursor.sort([("created", -1), ("_id", 1)]).limit(PAGE_SIZE))


# ---- (b): the bare falcon app, served by gunicorn as `bench.overhead:bare_app` ---------------------------------------

_bare = None


def _api(doc: dict) -> dict:
    return {("id" if k == "_id" else k): (v.isoformat() if isinstance(v, datetime) else v) for k, v in doc.items()}


def _make_bare():
    import falcon
    import pymongo

    coll = pymongo.MongoClient(os.environ["BENCH_MONGO_URI"])[os.environ["BENCH_DB"]]["models"]
    company = os.environ["BENCH_COMPANY"]

    class GetById:
        def on_post(self, req, resp):
            doc = get_call(coll, company, json.loads(req.bounded_stream.read())["model"])
            resp.text = json.dumps({"data": {"model": _api(doc)}})

    class GetAll:
        def on_post(self, req, resp):
            json.loads(req.bounded_stream.read())
            resp.text = json.dumps({"data": {"models": [_api(d) for d in page_call(coll, company)]}})

    app = falcon.App()
    app.add_route("/get_by_id", GetById())
    app.add_route("/get_all", GetAll())
    return app


def bare_app(environ, start_response):
    global _bare
    if _bare is None:
        _bare = _make_bare()
    return _bare(environ, start_response)


def start_bare(folder: Path, mongo_uri: str, company: str) -> tuple[subprocess.Popen, str]:
    """gunicorn with the launcher's settings (gunicorn.conf.py: workers, threads, worker class, timeouts)
    serving bare_app."""
    from server.process import embedded, launcher

    port = embedded.free_port()
    argv = [sys.executable, "-m", "gunicorn", "bench.overhead:bare_app", "-c", str(stack.ROOT / "gunicorn.conf.py"),
            "-b", f"127.0.0.1:{port}", *launcher._no_control_socket()]
    env = {**os.environ, "BENCH_MONGO_URI": mongo_uri, "BENCH_DB": "modelreg", "BENCH_COMPANY": company}
    log = open(folder / "bare.log", "w")  # noqa: SIM115
    process = subprocess.Popen(argv, cwd=stack.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            stack.post_json(url + "/get_all", {}, {})
            return process, url
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the bare app's gunicorn exited; see " + str(folder / "bare.log")) from None
            time.sleep(0.3)
    raise RuntimeError("the bare app did not answer")


# ---- (c): bare pymongo, 8 threads, in its own process ---------------------------------------------------------------

def pymongo_load(uri: str, company: str, call: str, seconds: float, ids: list[str]) -> dict:
    import pymongo

    coll = pymongo.MongoClient(uri, maxPoolSize=stack.WRK_CONNECTIONS)["modelreg"]["models"]
    get_call(coll, company, ids[0])
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker():
        mine = []
        rng = random.Random()
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            if call == "get":
                get_call(coll, company, rng.choice(ids))
            else:
                page_call(coll, company)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(stack.WRK_CONNECTIONS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "bad": 0}


def run_pymongo(folder: Path, uri: str, company: str, call: str, seconds: float, ids: list[str]) -> dict:
    ids_file = folder / "ids.json"
    ids_file.write_text(json.dumps(ids))
    out = subprocess.run([sys.executable, __file__, "--pymongo-load", call, "--uri", uri, "--company", company,
                          "--seconds", str(seconds), "--ids", str(ids_file)], capture_output=True, text=True,
                         timeout=seconds + 60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- data ---------------------------------------------------------------------------------------------------------

def seed(mongo_uri: str, company: str) -> list[str]:
    """1,000 models of the admin's company, shaped as models.create stores them."""
    import pymongo

    from database.collections import models_db

    db = pymongo.MongoClient(mongo_uri)["modelreg"]
    user = db["users"].find_one({"company": company})["_id"]
    rng = random.Random(16)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    docs = []
    for number in range(MODELS):
        doc = {"company": company, **models_db.new_model_doc(user, {
            "name": f"bench-model-{number:04d}", "uri": f"s3://bucket/models/{number:04d}/weights.pt",
            "comment": "trained on the nightly data set", "framework": rng.choice(["PyTorch", "TensorFlow"]),
            "tags": rng.sample(TAGS, rng.randint(0, 3)), "system_tags": ["archived"] if rng.random() < 0.1 else [],
            "labels": {"background": 0, "cat": 1, "dog": 2}, "design": {"design": "layers = 3"},
            "metadata": {"accuracy": {"key": "accuracy", "type": "float", "value": f"{rng.random():.4f}"}}})}
        doc["created"] = doc["last_update"] = start + timedelta(minutes=number)
        docs.append(doc)
    db["models"].insert_many(docs)
    from database.collections import generations

    generations.bump(db, "models")  # written around the API: pages kept by a server must go
    return [d["_id"] for d in docs]


# ---- the run ------------------------------------------------------------------------------------------------------

def fmt(row: dict) -> str:
    extra = f" ({row['bad']} non-2xx)" if row.get("bad") else ""
    cpu = f"  CPU/call: database {row['db_us']:4.0f} us" if row.get("db_us") else ""
    cpu += f", workers {row['workers_us']:4.0f} us" if row.get("workers_us") else ""
    return f"{row['rps']:8.1f} req/s  p50 {row['p50']:6.2f} ms  p99 {row['p99']:6.2f} ms{cpu}{extra}"


def with_cpu(run, seconds: float, database: list[int], workers: list[int]) -> dict:
    """`run()`'s row plus the CPU time the database and the serving workers spent per answered call."""
    before = stack.cpu_seconds(database), stack.cpu_seconds(workers)
    row = run()
    calls = max(row["rps"] * seconds, 1)
    row["db_us"] = (stack.cpu_seconds(database) - before[0]) / calls * 1e6
    row["workers_us"] = (stack.cpu_seconds(workers) - before[1]) / calls * 1e6 if workers else 0.0
    return row


def paced_cpu(args, scripts: dict, ours_url: str, bare_url: str, ours_workers: list[int], bare_workers: list[int],
              database: list[int]) -> None:
    """Worker CPU per call of ours (Bearer) and the bare app at a paced load, round by round. Each round
    alternates the two in PACED_SLICES slices of its seconds and sums each one's CPU and calls, so a machine
    whose speed drifts during the round (a shared VM) weighs on both alike."""
    print(f"worker CPU per call at a paced load ({stack.WRK_CONNECTIONS} connections, each waiting "
          f"{PACE_MS['get']} ms (get) or {PACE_MS['page']} ms (page) after an answer; each round alternates "
          f"ours and bare in {PACED_SLICES} slices):", flush=True)
    slice_sec = max(1.0, args.seconds / PACED_SLICES)
    ratios: dict[str, list[float]] = {}
    for number in range(1, args.rounds + 1):
        for call in PACE_MS:
            slices: dict[str, list[dict]] = {"a Bearer": [], "b bare falcon": []}
            time.sleep(SETTLE_SEC)
            for _ in range(PACED_SLICES):
                for variant, url, workers in (("a Bearer", ours_url, ours_workers),
                                              ("b bare falcon", bare_url, bare_workers)):
                    slices[variant].append(with_cpu(partial(stack.run_wrk, url, scripts[(call, variant)], slice_sec),
                                                    slice_sec, database, workers))
            # each app's CPU over all its slices divided by all its calls
            per_call = {variant: sum(r["workers_us"] * r["rps"] for r in rows) / max(sum(r["rps"] for r in rows), 1e-9)
                        for variant, rows in slices.items()}
            ratio = per_call["a Bearer"] / per_call["b bare falcon"]
            ratios.setdefault(call, []).append(ratio)
            shown = {variant: _paced_row(rows, per_call[variant]) for variant, rows in slices.items()}
            print(f"round {number} {call:4} ours {shown['a Bearer']}\n"
                  f"             bare {shown['b bare falcon']}\n             ours/bare {ratio:.2f}", flush=True)
    for call, values in ratios.items():
        print(f"  {call:4} worker CPU per call ours/bare at a paced load, round by round: "
              f"{', '.join(f'{r:.2f}' for r in values)}; median {statistics.median(values):.2f}")
    print(f"cpu: get_by_id ours/bare={statistics.median(ratios['get']):.2f} "
          f"page ours/bare={statistics.median(ratios['page']):.2f}")


def _paced_row(rows: list[dict], workers_us: float) -> str:
    """One app's slices of a round as one row: medians of rate and latencies, CPU per call over all."""
    merged = {key: statistics.median(row[key] for row in rows) for key in ("rps", "p50", "p99", "db_us")}
    return fmt({**merged, "workers_us": workers_us})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--pymongo-load")
    parser.add_argument("--uri")
    parser.add_argument("--company")
    parser.add_argument("--ids")
    parser.add_argument("--paced-only", action="store_true", help="only the worker CPU at a paced load")
    args = parser.parse_args()
    if args.pymongo_load:
        ids = json.loads(Path(args.ids).read_text())
        print(json.dumps(pymongo_load(args.uri, args.company, args.pymongo_load, args.seconds, ids)))
        return

    stack.ensure_wrk()
    folder = Path(tempfile.mkdtemp(prefix="modelreg-overhead-"))
    ours = bare = None
    try:
        # Kept pages off (query.page_cache_entries 0): our page runs its query every time, as (b) does;
        # bench/vs_mlflow.py measures searches with them on.
        ours = stack.start_modelreg(folder, {"MODELREG_QUERY_PAGE_CACHE_ENTRIES": "0"})
        ids = seed(ours.mongo_uri, ours.company)
        bare, bare_url = start_bare(folder, ours.mongo_uri, ours.company)
        bearer = "Bearer " + ours.token()
        json_type = {"Content-Type": "application/json"}
        get_bodies = [json.dumps({"model": i}) for i in ids]
        page_body = [json.dumps(PAGE_REQUEST)]
        get_path, page_path = "/api/v2.13/models.get_by_id", "/api/v2.13/models.get_all"
        bearer_type = {**json_type, "Authorization": bearer}
        requests = {  # (call, variant): (path, bodies, headers)
            ("get", "a Bearer"): (get_path, get_bodies, bearer_type),
            ("get", "a Basic"): (get_path, get_bodies, {**json_type, "Authorization": ours.basic}),
            ("get", "b bare falcon"): ("/get_by_id", get_bodies, json_type),
            ("page", "a Bearer"): (page_path, page_body, bearer_type),
            ("page", "a Basic"): (page_path, page_body, {**json_type, "Authorization": ours.basic}),
            ("page", "b bare falcon"): ("/get_all", page_body, json_type),
        }

        def make_script(call: str, variant: str, delay_ms: float = 0):
            who = "bare" if variant.startswith("b") else variant.split()[-1].lower()
            return stack.lua_script(folder, f"{'paced_' if delay_ms else ''}{call}_{who}", *requests[(call, variant)],
                                    delay_ms=delay_ms)

        scripts = {key: make_script(*key) for key in requests}
        # Same answers: the page through the stack and bare holds the same models in the same order.
        served = stack.post_json(ours.url + "/api/v2.13/models.get_all", PAGE_REQUEST, {"Authorization": bearer})
        direct = stack.post_json(bare_url + "/get_all", {}, {})
        assert [m["id"] for m in served["data"]["models"]] == [m["id"] for m in direct["data"]["models"]]
        assert len(direct["data"]["models"]) == PAGE_SIZE

        ours_workers, bare_workers = ours.gunicorn_workers(), stack.children(bare.pid)
        database = ours.database_pids()
        print(f"overhead bench: {MODELS} models, wrk {stack.WRK_THREADS} threads {stack.WRK_CONNECTIONS} connections, "
              f"{args.rounds} rounds x {args.seconds:g} s per run, {os.cpu_count()} CPUs", flush=True)
        print(f"RSS per worker at idle: ours {stack.rss_line(ours_workers)}; bare {stack.rss_line(bare_workers)}",
              flush=True)
        for script in scripts.values():  # warm up every worker and path once
            stack.run_wrk(ours.url if "bare" not in script.name else bare_url, script, 1)
        paced = {(call, variant): make_script(call, variant, PACE_MS[call]) for call in PACE_MS
                 for variant in ("a Bearer", "b bare falcon")}
        if args.paced_only:
            paced_cpu(args, paced, ours.url, bare_url, ours_workers, bare_workers, database)
            return
        results: dict[tuple[str, str], list[dict]] = {}
        for number in range(1, args.rounds + 1):
            for call in ("get", "page"):
                for variant in ("a Bearer", "a Basic", "b bare falcon", "c pymongo"):
                    # let the requests the previous run left in flight finish (a page of 100 takes ~0.2 s a
                    # connection): they would otherwise land in the first second of this run's latencies
                    time.sleep(SETTLE_SEC)
                    if variant == "c pymongo":
                        run = partial(run_pymongo, folder, ours.mongo_uri, ours.company, call, args.seconds, ids)
                        workers = []
                    else:
                        bare_run = variant.startswith("b")
                        run = partial(stack.run_wrk, bare_url if bare_run else ours.url, scripts[(call, variant)],
                                      args.seconds)
                        workers = bare_workers if bare_run else ours_workers
                    row = with_cpu(run, args.seconds, database, workers)
                    results.setdefault((call, variant), []).append(row)
                    print(f"round {number} {call:4} {variant:14} {fmt(row)}", flush=True)

        def median(call: str, variant: str) -> dict:
            rows = results[(call, variant)]
            return {k: statistics.median(r[k] for r in rows) for k in ("rps", "p50", "p99", "bad", "db_us",
                                                                          "workers_us")}

        print("median over the rounds:")
        ratios = {}
        for call in ("get", "page"):
            rows = {v: median(call, v) for v in ("a Bearer", "a Basic", "b bare falcon", "c pymongo")}
            for variant, row in rows.items():
                print(f"  {call:4} {variant:14} {fmt(row)}")
            b, c = rows["b bare falcon"]["rps"], rows["c pymongo"]["rps"]
            ratios[call] = rows["a Bearer"]["rps"] / b
            print(f"  {call:4} a/b: Bearer {rows['a Bearer']['rps'] / b:.2f}, Basic {rows['a Basic']['rps'] / b:.2f};"
                  f" b/c {b / c:.2f}")
            # the worker CPU of ours over the bare app's run right after it, round by round: a machine whose speed
            # drifts between rounds moves both runs of a round alike
            pairs = [ours["workers_us"] / bare["workers_us"] for ours, bare in
                     zip(results[(call, "a Bearer")], results[(call, "b bare falcon")], strict=True)]
            print(f"  {call:4} worker CPU per call a/b (Bearer), round by round: "
                  f"{', '.join(f'{r:.2f}' for r in pairs)}; median {statistics.median(pairs):.2f}")
        print(f"RSS per worker after: ours {stack.rss_line(ours_workers)}; bare {stack.rss_line(bare_workers)}")
        print(f"overhead: get_by_id a/b={ratios['get']:.2f} page a/b={ratios['page']:.2f}")
        paced_cpu(args, paced, ours.url, bare_url, ours_workers, bare_workers, database)
    finally:
        if bare is not None and bare.poll() is None:
            bare.terminate()
            bare.wait(30)
        if ours is not None:
            ours.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
