"""The change log and webhooks under load, against a live stack started as ./run.sh starts it.

  (a) log cost: models.create/models.edit through the API, `change_log.enabled` off then on
      (MODELREG_CHANGE_LOG_ENABLED): the share of the unlogged write throughput lost with the log on;
  (b) feed lag: a `changes.get_since` long poll waiting while writes happen, time from the write's answer
      to the entry in the poll's reply;
  (c) webhook delivery latency to a local receiver at a steady rate (default 200 changes/s): p50/p99 from
      the change (its entry's `time`) to its arrival;
  (d) during (c), kill -9 one delivery process (one of two run beside the launcher's) and one gunicorn
      worker, then reconcile: every acknowledged write has exactly one entry, every entry reached the
      receiver at least once and in seq order per webhook.
While the change log does not record API writes (it is not enabled, or not merged), (c)/(d) write the
numbered entries into `change_log` directly at the same rate and (a)/(b) report n/a.

    ./run.sh bench activity [--seconds 10] [--rate 200] [--writers 4] [--parts abcd]

Last line: `activity: log cost <p>% delivery p50 <ms> ms p99 <ms> ms lost <n>`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live import percentile  # noqa: E402
from bench.stack import ROOT, Stack, post_json, start_modelreg  # noqa: E402

X = "2.99"


class Receiver:
    """Records (seq, arrival time, entry time) per webhook path."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got: dict[str, list[tuple[int, float, float]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, as a receiver behind a web server does

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.time()
                entry = json.loads(body)
                if entry.get("seq") is not None:
                    made = datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
                    with receiver.lock:
                        receiver.got.setdefault(self.path, []).append((entry["seq"], arrived, made))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


def stack_in(folder: Path, env: dict) -> Stack:
    folder.mkdir(parents=True, exist_ok=True)
    return start_modelreg(folder, env)


def call(stack: Stack, endpoint: str, body: dict, version: str = X, timeout: float = 60) -> dict:
    return post_json(f"{stack.url}/v{version}/{endpoint}", body, {"Authorization": stack.basic}, timeout)["data"]


def database(stack: Stack):
    from server.config import load_config

    return MongoClient(stack.mongo_uri, tz_aware=True)[load_config(env={}).get("mongo.database")]


def logged(db, company: str) -> int:
    """Entries of `company`, numbered or not yet."""
    return sum(db[log].count_documents({"company": company}) for log in ("change_log", "change_log_pending"))


# --- (a) ---------------------------------------------------------------------------------------------------


def write_load(stack: Stack, seconds: float, writers: int) -> tuple[float, list[str]]:
    """Writes per second (create then edit a model, each call counted) and the ids of the models made."""
    made, count, stop = [], [0], time.monotonic() + seconds
    lock = threading.Lock()

    def writer():
        while time.monotonic() < stop:
            model = call(stack, "models.create", {"name": f"m-{uuid.uuid4().hex[:8]}", "uri": "s3://b/m.pt"},
                         "2.13")["id"]
            call(stack, "models.edit", {"model": model, "comment": "edited"}, "2.13")
            with lock:
                made.append(model)
                count[0] += 2

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.monotonic() - started), made


def log_cost(folder: Path, seconds: float, writers: int) -> float | None:
    rates = {}
    for enabled in ("false", "true"):
        stack = stack_in(folder / f"a-{enabled}", {"MODELREG_CHANGE_LOG_ENABLED": enabled})
        try:
            write_load(stack, 1, writers)  # warm-up
            rates[enabled], _ = write_load(stack, seconds, writers)
            if enabled == "true" and not logged(database(stack), stack.company):
                print("(a) log cost: n/a (the change log records nothing: not merged or not enabled)")
                return None
        finally:
            stack.stop()
    cost = (1 - rates["true"] / rates["false"]) * 100  # the share of the unlogged throughput lost
    print(f"(a) writes/s: log off {rates['false']:.0f}, on {rates['true']:.0f}, cost {cost:.1f}%")
    return cost


# --- (b) ---------------------------------------------------------------------------------------------------


def _long_poll(stack: Stack, cursor: str | None, reply: dict) -> None:
    try:
        reply.update(call(stack, "changes.get_since", {"cursor": cursor, "wait_sec": 10}))
    except Exception as exc:  # noqa: BLE001 (reported by the caller)
        reply["error"] = str(exc)
    reply["at"] = time.monotonic()


def _cursor_at_the_end(stack: Stack) -> str | None:
    """The feed's cursor after every entry there is now (read through, without waiting)."""
    cursor = None
    while True:
        reply = call(stack, "changes.get_since", {"cursor": cursor, "wait_sec": 0})
        cursor = reply.get("cursor", cursor)
        if not reply.get("entries"):
            return cursor


def feed_lag(stack: Stack, rounds: int = 20) -> None:
    """Time from a write's answer to its entry in a waiting changes.get_since reply."""
    lags = []
    for _ in range(rounds):
        reply: dict = {}
        poller = threading.Thread(target=_long_poll, args=(stack, _cursor_at_the_end(stack), reply))
        poller.start()
        time.sleep(0.2)  # the poll is waiting
        call(stack, "models.create", {"name": f"lag-{uuid.uuid4().hex[:8]}", "uri": "s3://b/m.pt"}, "2.13")
        answered = time.monotonic()
        poller.join(30)
        if "error" in reply or not reply.get("entries"):
            print(f"(b) feed lag: n/a ({reply.get('error', 'no entries in the reply')[:200]})")
            return
        lags.append((reply["at"] - answered) * 1000)
    print(f"(b) feed lag p50 {percentile(lags, 0.5):.1f} ms p99 {percentile(lags, 0.99):.1f} ms ({rounds} writes)")


# --- (c) and (d) -------------------------------------------------------------------------------------------


def deliverer(stack: Stack, folder: Path, name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("MODELREG_WEBHOOKS_")},
               MODELREG_MONGO_URI=stack.mongo_uri, MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS="true",
               MODELREG_WEBHOOKS_ATTEMPT_TIMEOUT_SEC="2", MODELREG_WEBHOOKS_LEASE_SEC="9")
    log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 (the child writes to it until it stops)
    return subprocess.Popen([sys.executable, "-m", "server", "deliver"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def steady_changes(stack: Stack, db, seconds: float, rate: float, through_api: bool, events: list) -> list[str]:
    """`rate` changes a second for `seconds` (each 20 ms tick makes the changes due by then); returns the
    ids of acknowledged API writes (empty when entries are written directly). `events` are (at second,
    action) run on the way."""
    acknowledged: list[str] = []
    seq = db["change_log"].count_documents({"company": stack.company})
    pool = ThreadPoolExecutor(16)

    def write(n: int) -> None:
        with contextlib.suppress(Exception):  # a killed worker's call: not acknowledged
            acknowledged.append(call(stack, "models.create", {"name": f"s-{n}", "uri": "s3://b/m.pt"}, "2.13",
                                     timeout=10)["id"])

    start, made = time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < seconds:
        while events and events[0][0] <= elapsed:
            events.pop(0)[1]()
        due = int(elapsed * rate) - made
        if through_api:
            for n in range(made, made + due):
                pool.submit(write, n)
        elif due > 0:
            now = datetime.now(timezone.utc)
            db["change_log"].insert_many([{
                "_id": uuid.uuid4().hex, "company": stack.company, "seq": seq + i, "time": now, "user": "bench",
                "endpoint": "models.create", "version": X, "trx": uuid.uuid4().hex, "changes": {},
                "target": {"type": "model", "id": uuid.uuid4().hex, "name": f"s-{seq + i}"}, "kind": "model.created",
                "hash": "", "prev_hash": ""} for i in range(1, due + 1)])
            seq += due
        made += max(due, 0)
        time.sleep(0.02)
    pool.shutdown(wait=True)
    took = time.monotonic() - start
    print(f"    {made} changes in {took:.1f} s ({made / took:.0f}/s)")
    return acknowledged


def out_of_order(arrivals: list[int]) -> int:
    """New seqs that arrived after a higher one had. A seq seen before is a repeat (at least once: after a
    crash a webhook's deliveries since its last checkpoint come again, same delivery ids), not disorder."""
    seen: set[int] = set()
    highest, count = None, 0
    for seq in arrivals:
        if seq in seen:
            continue
        seen.add(seq)
        if highest is not None and seq < highest:
            count += 1
        highest = seq if highest is None else max(highest, seq)
    return count


def delivery(folder: Path, seconds: float, rate: float, kill: bool) -> tuple[float, float, int]:
    stack = stack_in(folder / "c", {**{k: v for k, v in os.environ.items() if k.startswith("MODELREG_WEBHOOKS_")},
                                    "MODELREG_CHANGE_LOG_ENABLED": "true",
                                          "MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true",
                                          "MODELREG_WEBHOOKS_POLL_INTERVAL_SEC": "0.05"})
    extra = []
    try:
        db = database(stack)
        receiver = Receiver()
        hooks = ["all", "models"]
        call(stack, "webhooks.create", {"url": receiver.url("all"), "kinds": ["*"], "secret": "b" * 32})
        call(stack, "webhooks.create", {"url": receiver.url("models"), "kinds": ["model.*"], "secret": "b" * 32})
        call(stack, "models.create", {"name": "probe", "uri": "s3://b/m.pt"}, "2.13")
        time.sleep(1)
        through_api = logged(db, stack.company) > 0
        print(f"(c) {rate:.0f} changes/s for {seconds:.0f} s "
              f"({'API writes' if through_api else 'entries written directly: the change log records nothing'})")
        events = []
        if kill:
            extra = [deliverer(stack, folder, "deliver-x"), deliverer(stack, folder, "deliver-y")]

            def kill_deliverer():
                os.kill(extra[0].pid, signal.SIGKILL)
                print("    killed a delivery process (SIGKILL)")

            def kill_worker():
                workers = stack.gunicorn_workers()
                if workers:
                    os.kill(workers[0], signal.SIGKILL)
                    print("    killed a gunicorn worker (SIGKILL)")

            events = [(seconds * 0.3, kill_deliverer), (seconds * 0.5, kill_worker)]
        first = db["change_log"].count_documents({"company": stack.company, "seq": {"$type": "number"}})
        acknowledged = steady_changes(stack, db, seconds, rate, through_api, events)
        # reconcile once the sequencer has numbered every entry logged (pending ones are not lost)
        caught_up = time.monotonic()
        while (db["change_log_pending"].count_documents({"company": stack.company})
               and time.monotonic() < caught_up + 300):
            time.sleep(0.5)
        print(f"    the sequencer caught up {time.monotonic() - caught_up:.1f} s after the last write")
        entries = {e["seq"]: e for e in db["change_log"].find({"company": stack.company, "seq": {"$gt": first}},
                                                               {"seq": 1, "kind": 1, "target": 1})}
        wanted = {"/all": sorted(entries), "/models": sorted(s for s, e in entries.items()
                                                             if str(e.get("kind", "")).startswith("model."))}
        # a killed deliverer's webhooks are taken over once its lease expires, then their backlog is sent:
        # wait past that, and while deliveries still arrive (a backlog is late, not lost)
        from server.config import load_config

        lease = float(load_config(env={}).get("webhooks.lease_sec"))
        deadline = time.monotonic() + 60 + (lease + 10 if kill else 0)
        arrived, last_arrival = -1, time.monotonic()
        while time.monotonic() < deadline or time.monotonic() - last_arrival < 10:
            with receiver.lock:
                if all(set(wanted[p]) <= {s for s, _, _ in receiver.got.get(p, [])} for p in wanted):
                    break
                now_arrived = sum(len(v) for v in receiver.got.values())
            if now_arrived != arrived:
                arrived, last_arrival = now_arrived, time.monotonic()
            time.sleep(0.2)
        with receiver.lock:
            got = {p: list(v) for p, v in receiver.got.items()}
        lost = sum(len(set(wanted[p]) - {s for s, _, _ in got.get(p, [])}) for p in wanted)
        disordered = sum(out_of_order([s for s, _, _ in got.get(p, [])]) for p in wanted)
        repeats = sum(len(got.get(p, [])) - len({s for s, _, _ in got.get(p, [])}) for p in wanted)
        latencies = [(arrived - made) * 1000 for p in wanted for s, arrived, made in got.get(p, []) if s in entries]
        if through_api:
            per_target: dict[str, int] = {}
            for e in entries.values():
                if e.get("kind") == "model.created":
                    target = (e.get("target") or {}).get("id")
                    per_target[target] = per_target.get(target, 0) + 1
            bad = [m for m in acknowledged if per_target.get(m) != 1]
            print(f"    acknowledged writes {len(acknowledged)}, without exactly one entry: {len(bad)}")
            lost += len(bad)
        print(f"    entries {len(entries)}, lost {lost}, out of order {disordered}, repeats {repeats}")
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"    delivery latency p50 {p50:.1f} ms p99 {p99:.1f} ms (to {len(hooks)} webhooks)")
        return p50, p99, lost + disordered
    finally:
        for process in extra:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--parts", default="abcd")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="modelreg-activity-"))
    cost = log_cost(folder, args.seconds, args.writers) if "a" in args.parts else None
    if "b" in args.parts:
        stack = stack_in(folder / "b", {"MODELREG_CHANGE_LOG_ENABLED": "true"})
        try:
            feed_lag(stack)
        finally:
            stack.stop()
    p50 = p99 = float("nan")
    lost = 0
    if "c" in args.parts or "d" in args.parts:
        p50, p99, lost = delivery(folder, args.seconds, args.rate, kill="d" in args.parts)
    shown = "n/a" if cost is None else f"{cost:.1f}"
    print(f"activity: log cost {shown}% delivery p50 {p50:.1f} ms p99 {p99:.1f} ms lost {lost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
