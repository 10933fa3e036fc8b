"""Denial of service across companies: while an attacker of company A runs one hostile case, a victim of
company B calls models.get_by_id and models.get_all in a loop; against a server started as ./run.sh
starts it (gunicorn, embedded database and S3), everything on loopback.

    ./run.sh bench dos_probe [--seconds 5] [--records 3000]

Cases (each CASE seconds of victim calls, attackers stopped and their listeners closed after):
  baseline        no attack
  regex_signature models.validate_input against a signature whose pattern backtracks catastrophically
  ref_signature   a signature whose `$ref` names a local listener that accepts and never answers
  slow_import     24 models.import_url from a local server sending 1 byte/s (import.* allows loopback here)
  ndjson_streams  40 concurrent NDJSON records.get_all streams of every record of a model

For each case: the victim's p50/p99 latency and status codes, and the attacker's status codes and times.
The last line sums up every case's victim p99.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live import percentile, serve  # noqa: E402

V = "2.99"
CATASTROPHIC = "^(a+)+$"
VICTIM_TIMEOUT = 15  # seconds; a victim call that takes longer counts as "timeout"


class Caller:
    def __init__(self, url: str, key: str, secret: str):
        self.url = url
        self.session = requests.Session()
        self.session.auth = (key, secret)

    def post(self, endpoint: str, body: dict, timeout: float = 30, version: str = V, **kwargs):
        return self.session.post(f"{self.url}/api/v{version}/{endpoint}", json=body, timeout=timeout, **kwargs)

    def ok(self, endpoint: str, body: dict, version: str = V) -> dict:
        reply = self.post(endpoint, body, version=version)
        assert reply.status_code == 200, f"{endpoint}: {reply.status_code} {reply.text[:300]}"
        return reply.json()["data"]


def new_user(root: Caller, name: str, company: str) -> Caller:
    data = root.ok("auth.create_user", {"name": name, "company": company, "company_name": name,
                                        "role": "admin"}, version="2.1")
    credentials = data["credentials"]
    return Caller(root.url, credentials["access_key"], credentials["secret_key"])


# --- loopback listeners of the attacker ------------------------------------------------------------------

class Listener:
    """A loopback TCP server; `handle(conn)` serves each connection in a thread until `close()`."""

    def __init__(self, handle):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.closed = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn, self.closed)

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()


def never_answer(conn: socket.socket, closed: threading.Event) -> None:
    closed.wait()


def one_byte_a_second(conn: socket.socket, closed: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
    while not closed.wait(1.0):
        conn.sendall(b"w")


# --- measuring -------------------------------------------------------------------------------------------

def victim_loop(victim: Caller, model: str, seconds: float) -> tuple[list[float], Counter]:
    latencies, codes = [], Counter()
    stop_at = time.monotonic() + seconds
    calls = (("models.get_by_id", {"model": model}, "2.1"), ("models.get_all", {"page_size": 20}, "2.26"))
    n = 0
    while time.monotonic() < stop_at:
        endpoint, body, version = calls[n % 2]
        n += 1
        started = time.monotonic()
        try:
            codes[victim.post(endpoint, body, timeout=VICTIM_TIMEOUT, version=version).status_code] += 1
        except requests.RequestException as exc:
            codes[type(exc).__name__] += 1
        latencies.append((time.monotonic() - started) * 1000)
    return latencies, codes


def attack(calls: int, one_call, seconds: float) -> tuple[Counter, list[float], list[threading.Thread]]:
    """`calls` attacker threads, each repeating `one_call()` (status or exception name) until the case ends."""
    codes, times, lock = Counter(), [], threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop():
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                outcome = one_call(max(1.0, stop_at - time.monotonic() + 2))
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with lock:
                codes[outcome] += 1
                times.append(time.monotonic() - started)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(calls)]
    for thread in threads:
        thread.start()
    return codes, times, threads


def run_case(name: str, victim: Caller, victim_model: str, seconds: float, attacker=None) -> dict:
    """attacker: (threads, one_call) or None; returns the case's numbers and prints them."""
    threads = []
    codes, times = Counter(), []
    started = time.monotonic()
    if attacker is not None:
        time.sleep(0)  # attackers first, so the victim meets the attack from its first call
        codes, times, threads = attack(attacker[0], attacker[1], seconds)
        time.sleep(min(1.0, seconds / 4))
    latencies, victim_codes = victim_loop(victim, victim_model, seconds)
    for thread in threads:
        thread.join(seconds + 10)
    took = time.monotonic() - started
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    line = (f"{name:16s} victim {len(latencies):4d} calls p50 {p50:7.1f} ms p99 {p99:7.1f} ms "
            f"max {max(latencies or [0]):7.1f} ms codes {dict(victim_codes)}")
    if attacker is not None:
        line += (f" | attacker {sum(codes.values())} calls codes {dict(codes)} time p50 "
                 f"{percentile(times, 0.5):.1f} s max {max(times or [0]):.1f} s")
    print(line + f" | case {took:.1f} s", flush=True)
    return {"name": name, "p99": p99, "p50": p50}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5, help="victim calls per case")
    parser.add_argument("--records", type=int, default=3000, help="records streamed by each NDJSON stream")
    parser.add_argument("--set", action="append", default=[], metavar="MODELREG_X=VALUE",
                        help="a server setting for the run (repeatable)")
    args = parser.parse_args()
    # the slow remote is on loopback; an import may take 3 s in all, so the probe shows that bound hold
    env = {"MODELREG_IMPORT_ALLOWED_HOSTS": "127.0.0.1", "MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true",
           "MODELREG_OUTBOUND_TOTAL_TIMEOUT_SEC": "3"}
    env.update(item.split("=", 1) for item in args.set)
    with serve(env) as served:
        run(served, args)


def run(served, args) -> None:
    root = Caller(served.url, served.key, served.secret)
    attacker = new_user(root, "attacker", "attacker" + uuid.uuid4().hex[:24])
    victim = new_user(root, "victim", "victim" + uuid.uuid4().hex[:26])
    victim_model = victim.ok("models.create", {"name": "victim model", "uri": "s3://b/v.pt"}, version="2.13")["id"]
    for n in range(30):
        victim.ok("models.create", {"name": f"victim model {n}", "uri": "s3://b/v.pt"}, version="2.13")
    seconds = args.seconds
    results = [run_case("baseline", victim, victim_model, seconds)]

    # (a) a catastrophic pattern in a signature, then payloads that make it backtrack
    reply = attacker.post("models.create", {"name": "regex bomb", "uri": "s3://b/a.pt", "signature": {
        "input": {"type": "object", "properties": {"text": {"type": "string", "pattern": CATASTROPHIC}}}}})
    print(f"regex_signature: models.create with pattern {CATASTROPHIC!r}: {reply.status_code}", flush=True)
    if reply.status_code == 200:
        bomb = reply.json()["data"]["id"]

        def regex_call(timeout):
            return attacker.post("models.validate_input", {"model": bomb, "data": {"text": "a" * 27 + "!"}},
                                 timeout=timeout).status_code
        results.append(run_case("regex_signature", victim, victim_model, seconds, (4, regex_call)))
    else:
        results.append(run_case("regex_signature", victim, victim_model, seconds))

    # (b) a signature whose $ref points at a listener that never answers
    silent = Listener(never_answer)
    reply = attacker.post("models.create", {"name": "ref bomb", "uri": "s3://b/a.pt", "signature": {
        "input": {"$ref": f"http://127.0.0.1:{silent.port}/schema.json"}}})
    print(f"ref_signature: models.create with a remote $ref: {reply.status_code}", flush=True)
    if reply.status_code == 200:
        ref_model = reply.json()["data"]["id"]

        def ref_call(timeout):
            return attacker.post("models.validate_input", {"model": ref_model, "data": {"x": 1}},
                                 timeout=timeout).status_code
        results.append(run_case("ref_signature", victim, victim_model, seconds, (40, ref_call)))
    else:
        results.append(run_case("ref_signature", victim, victim_model, seconds))
    silent.close()

    # (c) imports from a server that sends one byte a second
    slow = Listener(one_byte_a_second)
    targets = [attacker.ok("models.create", {"name": f"import {n}", "uri": "s3://b/i.pt"}, version="2.13")["id"]
               for n in range(24)]
    pending = list(targets)
    lock = threading.Lock()

    def import_call(timeout):
        with lock:
            model = pending.pop() if pending else targets[0]
        return attacker.post("models.import_url", {"model": model, "url": f"http://127.0.0.1:{slow.port}/w.bin"},
                             timeout=timeout).status_code
    results.append(run_case("slow_import", victim, victim_model, seconds, (24, import_call)))
    slow.close()

    # (d) many NDJSON streams of many records
    model = attacker.ok("models.create", {"name": "many records", "uri": "s3://b/r.pt"}, version="2.13")["id"]
    payload = {"values": list(range(400))}
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        codes = Counter(pool.map(lambda n: attacker.post("records.add", {
            "model": model, "timestamp": f"2024-01-01T00:00:{n % 60:02d}Z", "site": f"s{n % 7}",
            "data": payload}).status_code, range(args.records)))
    print(f"ndjson_streams: {args.records} records added in {time.monotonic() - started:.0f} s: {dict(codes)}",
          flush=True)

    def stream_call(timeout):
        reply = attacker.post("records.get_all", {"model": [model]}, timeout=timeout,
                              headers={"Accept": "application/x-ndjson"}, stream=True)
        size = sum(len(chunk) for chunk in reply.iter_content(65536))
        return f"{reply.status_code} ({size // 1_000_000} MB)"
    results.append(run_case("ndjson_streams", victim, victim_model, seconds, (40, stream_call)))

    base = results[0]["p99"]
    print("dos_probe: " + "  ".join(f"{r['name']} p99 {r['p99']:.1f} ms (x{r['p99'] / base:.1f})" for r in results),
          flush=True)


if __name__ == "__main__":
    main()
