"""Our server against MLflow's tracking server (model registry), same machine, same run.

MLflow (PyPI `mlflow`) is installed by this script into its own virtualenv, `.venv-mlflow` beside the
project's `.venv` (never into `.venv`), and started with a SQLite store and as many uvicorn workers as our
gunicorn has. Ours starts as ./run.sh starts it. Then, one side after the other:
  create 1,000 models (MLflow: registered models, each with a tag `team` and a description; ours:
          `models.create` with a tag and a comment), 8 client threads, keep-alive connections;
  get     by id, a random one of the 1,000 (MLflow: `registered-models/get?name=`; ours:
          `models.get_by_id`, Bearer), wrk 2 threads 8 connections;
  search  100 by tag and name, ordered by name (MLflow: `registered-models/search` with
          `name LIKE 'bench-%' AND tags.team = '<t>'`; ours: `models.get_all` with `name: "^bench-"`,
          `tags: [t]`, `order_by: ["name"]`, `page_size: 100`), wrk as above;
  update  each model's description / comment, 8 client threads.
get and search run in interleaved rounds; prints throughput and p50/p99 for both and ours/MLflow. Our
search runs twice: with our kept pages (the default; the benchmark asks the same page again and again)
and without (a second server on the same database with query.page_cache_entries 0, as a real client's
varied searches would meet it). The last line gives throughput ratios, ours over MLflow, search without
the kept pages:

    vs_mlflow: get x<r> search x<r> create x<r> update x<r>

    ./run.sh bench vs_mlflow [--rounds 3] [--seconds 6] [--no-page-cache]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stack  # noqa: E402

MODELS = 1000
THREADS = 8
TEAMS = ["vision", "nlp", "speech", "tabular"]
MLFLOW_VENV = stack.ROOT / ".venv-mlflow"
MLFLOW_REQUIREMENT = "mlflow>=3.1,<4"
API = "/api/2.0/mlflow/registered-models"


def ensure_mlflow() -> Path:
    binary = MLFLOW_VENV / "bin" / "mlflow"
    if not binary.exists():
        print(f"vs_mlflow: installing {MLFLOW_REQUIREMENT} into {MLFLOW_VENV} (its own virtualenv)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(MLFLOW_VENV / "bin" / "pip"), "install", "--quiet", MLFLOW_REQUIREMENT], check=True)
    return binary


def start_mlflow(folder: Path, workers: int) -> tuple[subprocess.Popen, str]:
    from server.process import embedded

    port = embedded.free_port()
    argv = [str(ensure_mlflow()), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
            "--default-artifact-root", str(folder / "mlartifacts")]
    log = open(folder / "mlflow.log", "w")  # noqa: SIM115
    process = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    stack.wait_for(url + "/health", 180, process)
    return process, url


# ---- a threaded keep-alive client for the writes --------------------------------------------------------------------

def run_threaded(url: str, requests: list[tuple[str, str, dict | None]], headers: dict) -> tuple[dict, list]:
    """Sends (method, path, body) requests from THREADS threads; returns figures and the parsed answers."""
    host = urllib.parse.urlsplit(url)
    answers: list = [None] * len(requests)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(len(requests)))

    def worker():
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        mine = []
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            method, path, body = requests[index]
            began = time.perf_counter()
            retried = False
            while True:
                try:
                    connection.request(method, path, body=json.dumps(body) if body is not None else None,
                                       headers={"Content-Type": "application/json", **headers})
                    response = connection.getresponse()
                    raw = response.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # uvicorn may close a kept-alive connection as the next request goes out: once more,
                    # on a new connection (counted in the latency).
                    connection.close()
                    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
                    if retried:
                        raise
                    retried = True
            mine.append(time.perf_counter() - began)
            if retried and b"RESOURCE_ALREADY_EXISTS" in raw:  # the first attempt went through after all
                raw = b""
            elif response.status != 200:
                with lock:
                    failures.append(f"{response.status} {raw[:200]!r}")
            answers[index] = json.loads(raw) if raw else None
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "bad": 0}, answers


def fmt(row: dict) -> str:
    extra = f" ({row['bad']} non-2xx)" if row.get("bad") else ""
    return f"{row['rps']:8.1f} req/s  p50 {row['p50']:7.2f} ms  p99 {row['p99']:7.2f} ms{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--no-page-cache", action="store_true",
                        help="run ours with query.page_cache_entries 0: every search runs its query")
    args = parser.parse_args()

    stack.ensure_wrk()
    ensure_mlflow()
    from server.config import load_config

    workers = int(load_config().get("server.workers"))
    folder = Path(tempfile.mkdtemp(prefix="modelreg-vs-mlflow-"))
    ours = uncached = mlflow = None
    try:
        ours = stack.start_modelreg(folder, {"MODELREG_QUERY_PAGE_CACHE_ENTRIES": "0"} if args.no_page_cache else None)
        # the same database served without kept pages: every search runs its query
        (folder / "uncached").mkdir()
        uncached = stack.start_modelreg(folder / "uncached", {"MODELREG_QUERY_PAGE_CACHE_ENTRIES": "0",
                                                              "MODELREG_MONGO_URI": ours.mongo_uri})
        mlflow, mlflow_url = start_mlflow(folder, workers)
        bearer = {"Authorization": "Bearer " + ours.token()}
        uncached_bearer = {"Authorization": "Bearer " + uncached.token()}
        names = [f"bench-model-{n:04d}" for n in range(MODELS)]
        team = {name: TEAMS[n % len(TEAMS)] for n, name in enumerate(names)}
        print(f"vs_mlflow: {MODELS} models, {workers} workers each (our gunicorn, MLflow's uvicorn), "
              f"{os.cpu_count()} CPUs, writes from {THREADS} threads, reads by wrk {stack.WRK_THREADS} threads "
              f"{stack.WRK_CONNECTIONS} connections, {args.rounds} rounds x {args.seconds:g} s, "
              f"our kept pages {'off' if args.no_page_cache else 'on (the default)'}", flush=True)
        rows: dict[tuple[str, str], list[dict]] = {}

        def record(op: str, side: str, row: dict, label: str = "") -> None:
            rows.setdefault((op, side), []).append(row)
            print(f"{label}{op:6} {side:6} {fmt(row)}", flush=True)

        # create
        row, created = run_threaded(ours.url, [
            ("POST", "/api/v2.13/models.create",
             {"name": n, "uri": f"s3://bucket/{n}.pt", "tags": [team[n]], "comment": "first"}) for n in names],
            bearer)
        ids = [a["data"]["id"] for a in created]
        record("create", "ours", row)
        row, _ = run_threaded(mlflow_url, [
            ("POST", f"{API}/create", {"name": n, "tags": [{"key": "team", "value": team[n]}],
                                       "description": "first"}) for n in names], {})
        record("create", "mlflow", row)

        # get and search: wrk, rounds interleaved
        json_type = {"Content-Type": "application/json"}
        search_team = TEAMS[1]
        ours_search = {"name": "^bench-", "tags": [search_team], "order_by": ["name"], "page_size": 100}
        mlflow_filter = urllib.parse.quote(f"name LIKE 'bench-%' AND tags.team = '{search_team}'")
        scripts = {
            ("get", "ours"): (ours.url, stack.lua_script(folder, "ours_get", "/api/v2.13/models.get_by_id",
                                                         [json.dumps({"model": i}) for i in ids],
                                                         {**json_type, **bearer})),
            ("get", "mlflow"): (mlflow_url, stack.lua_script(folder, "mlflow_get",
                                                             [f"{API}/get?name={n}" for n in names], None, {},
                                                             method="GET")),
            ("search", "ours"): (ours.url, stack.lua_script(folder, "ours_search", "/api/v2.13/models.get_all",
                                                            [json.dumps(ours_search)], {**json_type, **bearer})),
            ("search_uncached", "ours"): (uncached.url, stack.lua_script(
                folder, "ours_search_uncached", "/api/v2.13/models.get_all", [json.dumps(ours_search)],
                {**json_type, **uncached_bearer})),
            ("search", "mlflow"): (mlflow_url, stack.lua_script(
                folder, "mlflow_search", [f"{API}/search?filter={mlflow_filter}&max_results=100"], None,
                {}, method="GET")),
        }
        # Both searches answer the same 100 names.
        found = stack.post_json(ours.url + "/api/v2.13/models.get_all", ours_search, bearer)["data"]["models"]
        search_path = f"{API}/search?filter={mlflow_filter}&max_results=100"
        with urllib.request.urlopen(mlflow_url + search_path, timeout=60) as response:
            theirs = json.loads(response.read())["registered_models"]
        ours_names, their_names = [m["name"] for m in found], [m["name"] for m in theirs]
        assert ours_names == their_names, f"the searches disagree: {ours_names[:3]} vs {their_names[:3]}"
        assert len(found) == 100
        for url, script in scripts.values():
            stack.run_wrk(url, script, 1)  # warm-up
        for number in range(1, args.rounds + 1):
            for op in ("get", "search", "search_uncached"):
                for side in ("ours", "mlflow"):
                    if (op, side) not in scripts:
                        continue
                    url, script = scripts[(op, side)]
                    record(op, side, stack.run_wrk(url, script, args.seconds), f"round {number} ")

        # update
        row, _ = run_threaded(ours.url, [("POST", "/api/v2.13/models.update", {"model": i, "comment": "second"})
                                         for i in ids], bearer)
        record("update", "ours", row)
        row, _ = run_threaded(mlflow_url, [("PATCH", f"{API}/update", {"name": n, "description": "second"})
                                           for n in names], {})
        record("update", "mlflow", row)

        print("median over the rounds (create and update: one pass of 1,000 each):")
        ratios = {}
        rows[("search_uncached", "mlflow")] = rows[("search", "mlflow")]  # MLflow keeps no pages
        for op in ("create", "get", "search", "search_uncached", "update"):
            med = {side: {k: statistics.median(r[k] for r in rows[(op, side)]) for k in ("rps", "p50", "p99", "bad")}
                   for side in ("ours", "mlflow")}
            ratios[op] = med["ours"]["rps"] / med["mlflow"]["rps"]
            for side in ("ours", "mlflow"):
                print(f"  {op:6} {side:6} {fmt(med[side])}")
            print(f"  {op:6} ours/mlflow x{ratios[op]:.2f} throughput, p99 {med['ours']['p99']:.1f} vs "
                  f"{med['mlflow']['p99']:.1f} ms")
        print(f"RSS per worker after: ours {stack.rss_line(ours.gunicorn_workers())}; MLflow server and workers "
              f"{stack.rss_line([mlflow.pid, *stack.children(mlflow.pid)])}")
        print(f"search with our kept pages (the same page asked again and again): x{ratios['search']:.2f}")
        print(f"vs_mlflow: get x{ratios['get']:.2f} search x{ratios['search_uncached']:.2f} "
              f"create x{ratios['create']:.2f} update x{ratios['update']:.2f}")
    finally:
        if mlflow is not None and mlflow.poll() is None:
            os.killpg(mlflow.pid, 15)
            try:
                mlflow.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(mlflow.pid, 9)
        if uncached is not None:
            uncached.stop()
        if ours is not None:
            ours.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
