"""Mixed load against a server started as ./run.sh starts it: concurrent clients of reads, writes and
small uploads, with slow clients alongside, then a reconciliation of what was acknowledged.

    ./run.sh bench load [--seconds 60] [--clients 50] [--slow 10] [--url URL --key K --secret S]

Each client loops over: `models.get_by_id` and `models.get_all` (reads), `models.create`, `models.edit`
and `models.delete` of its own models (writes), and `models.upload` of 16 KB (uploads). Half the slow
clients send a `models.create` body at 1 KB/s, the other half upload 200 KB at 100 KB/s. Afterwards
every acknowledged create must still exist unless its delete was acknowledged, and every acknowledged
delete must be gone. Prints throughput, p50/p99 per kind and the errors; the last line is
`load: <rps> rps p99 <ms> ms errors <n> lost <n>`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # ./run.sh bench runs the file as a script

from bench.live import Served, connect, percentile, read_reply, request_head, send_slowly, serve  # noqa: E402

V = "2.13"
UPLOAD_SIZE = 16 * 1024
SLOW_RATE = 1024
SLOW_UPLOAD_RATE = 100 * 1024
KINDS = (("read", 0.55), ("write", 0.35), ("upload", 0.10))


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.created: set[str] = set()
        self.deleted: set[str] = set()

    def timed(self, kind: str, action):
        started = time.monotonic()
        try:
            result = action()
        except Exception as exc:  # a failure of any kind is an error of the run
            with self.lock:
                self.errors[kind].append(f"{type(exc).__name__}: {str(exc)[:200]}")
            return None
        with self.lock:
            self.latencies[kind].append((time.monotonic() - started) * 1000)
        return result


def call(session: requests.Session, url: str, endpoint: str, data: dict) -> dict:
    reply = session.post(f"{url}/api/v{V}/{endpoint}", json=data, timeout=60)
    if reply.status_code != 200:
        raise RuntimeError(f"{endpoint} answered {reply.status_code}: {reply.text[:200]}")
    return reply.json()["data"]


def client_loop(served: Served, tally: Tally, until: float, number: int, shared: list[str]) -> None:
    session = requests.Session()
    session.auth = served.auth
    rng = random.Random(number)
    own: list[str] = []
    payload = os.urandom(UPLOAD_SIZE)
    while time.monotonic() < until:
        kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
        if kind == "read":
            if rng.random() < 0.7 and shared:
                target = rng.choice(shared)
                tally.timed("read", lambda t=target: call(session, served.url, "models.get_by_id", {"model": t}))
            else:
                tally.timed("read", lambda: call(session, served.url, "models.get_all", {
                    "page": 0, "page_size": 25, "order_by": ["-created"], "only_fields": ["id", "name"]}))
        elif kind == "write":
            choice = rng.random()
            if choice < 0.5 or not own:
                data = tally.timed("write", lambda: call(session, served.url, "models.create", {
                    "name": f"load {number} {rng.random():.6f}", "uri": "s3://bench/w", "tags": ["load"]}))
                if data is not None:
                    own.append(data["id"])
                    with tally.lock:
                        tally.created.add(data["id"])
            elif choice < 0.8:
                target = rng.choice(own)
                tally.timed("write", lambda t=target: call(session, served.url, "models.edit", {
                    "model": t, "comment": f"edited {rng.random():.6f}"}))
            else:
                target = own.pop(rng.randrange(len(own)))
                if tally.timed("write", lambda t=target: call(session, served.url, "models.delete",
                                                               {"model": t})) is not None:
                    with tally.lock:
                        tally.deleted.add(target)
        else:
            if not own:
                continue
            target = rng.choice(own)

            def upload(t=target):
                reply = session.post(f"{served.url}/api/v{V}/models.upload", params={"model": t, "filename": "w.bin"},
                                     data=payload, timeout=60)
                if reply.status_code != 200:
                    raise RuntimeError(f"models.upload answered {reply.status_code}: {reply.text[:200]}")

            tally.timed("upload", upload)


def slow_loop(served: Served, tally: Tally, until: float, number: int) -> None:
    """Slow JSON senders (even numbers) and slow uploaders (odd), one request after another."""
    session = requests.Session()
    session.auth = served.auth
    while time.monotonic() < until:
        if number % 2 == 0:
            body = json.dumps({"name": f"slow {number} {time.monotonic():.3f}", "uri": "s3://bench/s",
                               "comment": "." * 4 * SLOW_RATE}).encode()

            def send(body=body):
                sock = connect(served)
                sock.sendall(request_head(served, "POST", f"/api/v{V}/models.create", len(body), "application/json"))
                send_slowly(sock, body, SLOW_RATE)
                status, reply = read_reply(sock)
                sock.close()
                if status != 200:
                    raise RuntimeError(f"slow models.create answered {status}: {reply[:200]!r}")
                return json.loads(reply)["data"]["id"]

            created = tally.timed("slow", send)
            if created is not None:
                with tally.lock:
                    tally.created.add(created)
        else:
            target = call(session, served.url, "models.create", {"name": f"slow up {number}", "uri": "s3://b/u"})["id"]
            with tally.lock:
                tally.created.add(target)
            size = 2 * SLOW_UPLOAD_RATE

            def upload(target=target, size=size):
                sock = connect(served)
                sock.sendall(request_head(served, "POST", f"/api/v{V}/models.upload?model={target}&filename=s.bin",
                                          size, "application/octet-stream"))
                send_slowly(sock, os.urandom(size), SLOW_UPLOAD_RATE)
                status, reply = read_reply(sock)
                sock.close()
                if status != 200:
                    raise RuntimeError(f"slow models.upload answered {status}: {reply[:200]!r}")

            tally.timed("slow", upload)


def reconcile(served: Served, tally: Tally) -> tuple[int, int]:
    """(acknowledged creates that are missing, acknowledged deletes still present)."""
    session = requests.Session()
    session.auth = served.auth
    present: set[str] = set()
    wanted = sorted(tally.created | tally.deleted)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found = call(session, served.url, "models.get_all", {"id": chunk, "only_fields": ["id"], "page_size": 500})
        present |= {m["id"] for m in found["models"]}
    missing = len(tally.created - tally.deleted - present)
    resurrected = len(tally.deleted & present)
    return missing, resurrected


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60, help="duration of the load")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--slow", type=int, default=10, help="slow clients alongside")
    parser.add_argument("--url", help="an already running server (default: start one as ./run.sh does)")
    parser.add_argument("--key")
    parser.add_argument("--secret")
    args = parser.parse_args()
    if args.url:
        context = nullcontext(Served(args.url, int(args.url.rsplit(":", 1)[1]), args.key, args.secret, None))
    else:
        context = serve()
    with context as served:
        run(served, args)


def run(served: Served, args) -> None:
    session = requests.Session()
    session.auth = served.auth
    tally = Tally()
    shared = [call(session, served.url, "models.create", {"name": f"shared {n}", "uri": "s3://bench/s"})["id"]
              for n in range(20)]
    tally.created |= set(shared)
    started = time.monotonic()
    until = started + args.seconds
    threads = [threading.Thread(target=client_loop, args=(served, tally, until, n, shared))
               for n in range(args.clients)]
    threads += [threading.Thread(target=slow_loop, args=(served, tally, until, n)) for n in range(args.slow)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    missing, resurrected = reconcile(served, tally)

    everything = [ms for kind, values in tally.latencies.items() if kind != "slow" for ms in values]
    errors = sum(len(v) for v in tally.errors.values())
    print(f"{args.clients} clients + {args.slow} slow clients for {elapsed:.0f} s")
    for kind in ("read", "write", "upload", "slow"):
        values = tally.latencies.get(kind, [])
        print(f"  {kind:6s} {len(values):6d} calls  p50 {percentile(values, 0.5):7.1f} ms  "
              f"p99 {percentile(values, 0.99):7.1f} ms  errors {len(tally.errors.get(kind, []))}")
    for kind, messages in tally.errors.items():
        for message in messages[:3]:
            print(f"  error ({kind}): {message}")
    print(f"  reconciliation: {len(tally.created)} acknowledged creates, {len(tally.deleted)} acknowledged deletes; "
          f"missing {missing}, deleted but present {resurrected}")
    rps = len(everything) / elapsed
    print(f"load: {rps:.1f} rps p99 {percentile(everything, 0.99):.0f} ms errors {errors} lost {missing + resurrected}")


if __name__ == "__main__":
    main()
