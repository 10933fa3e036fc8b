"""Slow clients beside the JSON API: `models.get_by_id` latency while slow transfers and slow JSON
senders are in flight, against a server started as ./run.sh starts it.

    ./run.sh bench slow_clients [--seconds 30] [--transfers 50] [--senders 20] [--sync]

Half the transfers are `models.upload` bodies sent at 100 KB/s, half `/files` downloads read at
100 KB/s (a small receive window, so the server cannot hand them everything at once); the senders send
a `models.create` body at 1 KB/s. Meanwhile a probe calls `models.get_by_id` every 50 ms and the bench
prints its p50/p99/max and any failure, and how the slow clients fared. `--sync` runs gunicorn's sync
worker (one request per process, the serving model before the threaded workers) for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # ./run.sh bench runs the file as a script

from bench.live import connect, percentile, read_reply, request_head, send_slowly, serve  # noqa: E402

RATE = 100 * 1024  # bytes/s of each slow transfer
SENDER_RATE = 1024  # bytes/s of each slow JSON sender
PROBE_EVERY = 0.05
DOWNLOAD_SIZE = 8 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30, help="length of the measurement window")
    parser.add_argument("--transfers", type=int, default=50)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--sync", action="store_true", help="gunicorn's sync worker, for comparison")
    args = parser.parse_args()
    env = {"GUNICORN_CMD_ARGS": "-k sync --threads 1 --timeout 300"} if args.sync else {}
    with serve(env) as served:
        run(served, args)


def run(served, args) -> None:
    api = served.url + "/api/v2.13/"
    session = requests.Session()
    session.auth = served.auth
    probe_id = session.post(api + "models.create", json={"name": "probe", "uri": "s3://b/probe"}).json()["data"]["id"]
    upload_targets = [session.post(api + "models.create", json={"name": f"up {n}", "uri": "s3://b/u"}).json()
                      ["data"]["id"] for n in range(args.transfers)]
    download = {"/slow/download.bin": ("download.bin", os.urandom(DOWNLOAD_SIZE))}
    reply = session.post(served.url + "/files", files=download)
    assert reply.status_code == 200, reply.text

    stop_at = time.monotonic() + args.seconds + 3
    outcomes: dict[str, list] = {"upload": [], "download": [], "sender": []}
    lock = threading.Lock()

    def record(kind, value):
        with lock:
            outcomes[kind].append(value)

    def slow_upload(model_id):
        size = int(RATE * (args.seconds + 5))
        try:
            sock = connect(served)
            sock.sendall(request_head(served, "POST", f"/api/v2.13/models.upload?model={model_id}&filename=w.bin",
                                      size, "application/octet-stream"))
            send_slowly(sock, os.urandom(size), RATE)  # stops early if refused (503 at the bound)
            record("upload", read_reply(sock)[0])
        except Exception as exc:
            record("upload", type(exc).__name__)

    def slow_download():
        try:
            sock = connect(served, receive_buffer=64 * 1024)
            sock.sendall(f"GET /files/slow/download.bin HTTP/1.1\r\nHost: x\r\nAuthorization: {served.basic}\r\n"
                         "Connection: close\r\n\r\n".encode())
            status, _ = read_reply(sock, rate=RATE, stop_at=stop_at)
            record("download", status)
            sock.close()
        except Exception as exc:
            record("download", type(exc).__name__)

    def slow_sender(number):
        body = json.dumps({"name": f"slow sender {number}", "uri": "s3://b/s",
                           "comment": "." * int(SENDER_RATE * args.seconds)}).encode()
        try:
            sock = connect(served)
            sock.sendall(request_head(served, "POST", "/api/v2.13/models.create", len(body), "application/json"))
            send_slowly(sock, body, SENDER_RATE)
            record("sender", read_reply(sock)[0])
        except Exception as exc:
            record("sender", type(exc).__name__)

    threads = []
    for number in range(args.transfers):
        target = (slow_upload, (upload_targets[number],)) if number % 2 == 0 else (slow_download, ())
        threads.append(threading.Thread(target=target[0], args=target[1], daemon=True))
    threads += [threading.Thread(target=slow_sender, args=(n,), daemon=True) for n in range(args.senders)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # all slow clients under way

    latencies, failures = [], []
    window_end = time.monotonic() + args.seconds
    probe = requests.Session()
    probe.auth = served.auth
    while time.monotonic() < window_end:
        started = time.monotonic()
        try:
            reply = probe.post(api + "models.get_by_id", json={"model": probe_id}, timeout=30)
            if reply.status_code != 200:
                failures.append(reply.status_code)
        except requests.RequestException as exc:
            failures.append(type(exc).__name__)
        latencies.append((time.monotonic() - started) * 1000)
        time.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - started)))
    for thread in threads:
        thread.join(timeout=max(1.0, stop_at + 60 - time.monotonic()))

    for kind, results in outcomes.items():
        named = [str(result) for result in results]
        summary = {name: named.count(name) for name in sorted(set(named))}
        print(f"{kind}: {len(results)} finished {summary}")
    print(f"get_by_id probes: {len(latencies)}, failures {len(failures)} {failures[:5]}")
    print(f"slow_clients: {args.transfers} transfers {args.senders} senders get_by_id "
          f"p50 {percentile(latencies, 0.5):.1f} ms p99 {percentile(latencies, 0.99):.1f} ms "
          f"max {max(latencies):.1f} ms failures {len(failures)}")


if __name__ == "__main__":
    main()
