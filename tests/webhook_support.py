"""A local webhook receiver (a thread serving HTTP on 127.0.0.1) and change-log entries written the way
the change log stores them."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from server.process.embedded import stop_process

ROOT = Path(__file__).resolve().parents[1]


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature of the exact body bytes, compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


class Receiver:
    """Records every POST (headers, body, the sender's address and port); answers `status` (or the next of
    `statuses`), after `delay` seconds. `overlaps` counts requests of one webhook that were in flight
    together. `keep_alive`: answers in HTTP/1.1 and keeps connections open (else HTTP/1.0, one request a
    connection); `one_per_connection` with it: a second request on a connection is dropped unanswered,
    the connection closed, as a receiver whose idle timeout fires as the request arrives."""

    def __init__(self, status: int = 200, delay: float = 0.0, keep_alive: bool = False,
                 one_per_connection: bool = False):
        self.status, self.delay = status, delay
        self.dropped = 0
        self.statuses: list[int] = []
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.overlaps = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            answered = 0  # on this connection (one handler per connection)

            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if one_per_connection and self.answered:
                    with receiver.lock:
                        receiver.dropped += 1
                    self.close_connection = True
                    return
                self.answered += 1
                hook = self.path.rsplit("/", 1)[-1]
                with receiver.lock:
                    receiver.in_flight[hook] = receiver.in_flight.get(hook, 0) + 1
                    if receiver.in_flight[hook] > 1:
                        receiver.overlaps += 1
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    with receiver.lock:
                        receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                                  "status": status, "at": time.monotonic(),
                                                  "peer": self.client_address})
                finally:
                    # out of flight before the answer leaves: once the sender has read it, it may send the
                    # next request at once, possibly before this thread runs again
                    with receiver.lock:
                        receiver.in_flight[hook] -= 1
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str = "hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/in/{name}"

    def delivered(self, path_end: str | None = None) -> list[dict]:
        """The bodies answered 2xx, parsed, in arrival order (of one URL's name when given)."""
        with self.lock:
            got = [r for r in self.received if 200 <= r["status"] < 300]
        return [json.loads(r["body"]) for r in got if path_end is None or r["path"].endswith("/" + path_end)]

    def connections(self) -> int:
        """How many connections the requests it recorded came on."""
        with self.lock:
            return len({r["peer"] for r in self.received})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def post(url: str, policy, kept=None) -> int:
    """One POST through the outbound client (services/shared/outbound.py), its answer read to the end and
    closed (so that a kept connection goes back to `kept`); returns the status."""
    from services.shared import outbound

    response = outbound.request(url, policy, method="POST", body=b"{}", headers={"Content-Type": "application/json"},
                                kept=kept)
    try:
        while response.read():
            pass
        return response.status
    finally:
        response.close()


def add_entries(db, company: str, kinds: list[str]) -> list[int]:
    """Change-log entries of `company`, one per kind, logged as a write logs them (unnumbered) and then
    numbered by the sequencer, after every entry the company already has; returns their seqs."""
    from database.collections import change_log_db
    from services.changes.sequencer import sequence_pending

    docs, tick = [], time.time_ns()
    for n, kind in enumerate(kinds):
        name = f"n{tick}-{n}"
        docs.append({"_id": uuid.uuid4().hex, "company": company, "time": datetime.now(timezone.utc),
                     "user": "u1", "endpoint": kind.split(".")[0] + "s.edit", "version": "2.99",
                     "trx": uuid.uuid4().hex, "target": {"type": kind.split(".")[0], "id": uuid.uuid4().hex,
                                                           "name": name},
                     "kind": kind, "op": "update", "changes": {"name": {"before": None, "after": name}},
                     "acked_ns": tick + n})
    if docs:
        change_log_db.insert_entries(db, docs)
    ids = [d["_id"] for d in docs]

    def numbered():  # a running delivery process may hold the company's sequencer lease: it numbers them then
        sequence_pending(db, company, settle_sec=0)
        by_id = {d["_id"]: d.get("seq") for d in db["change_log"].find({"_id": {"$in": ids}})}
        return [by_id.get(i) for i in ids] if all(by_id.get(i) is not None for i in ids) else None

    return wait_for(numbered) if docs else []


def wait_for(condition, timeout: float = 30.0, step: float = 0.05):
    """Waits until `condition()` is truthy (returns it) or fails after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(step)


def seed_webhook(db, company: str, marker: str = "") -> tuple[str, str]:
    """A webhook of `company` (to a documentation address the outbound guard refuses at once) with one
    parked delivery, written directly: (webhook id, delivery id)."""
    now = datetime.now(timezone.utc)
    hook, delivery = uuid.uuid4().hex, uuid.uuid4().hex
    db["webhooks"].insert_one({"_id": hook, "company": company, "user": "u1", "url": f"https://192.0.2.1/{marker}",
                               "kinds": ["*"], "secret": f"secret-{marker}", "created": now, "last_update": now,
                               "state": "active", "failing_since": None, "last_error": None, "cursor": 1,
                               "retry_at": None, "queued": False, "lease_holder": None, "lease_expires": None})
    db["webhook_deliveries"].insert_one({"_id": delivery, "company": company, "webhook": hook, "seq": 1,
                                         "kind": "model.created", "state": "parked", "attempts": 1, "status": 500,
                                         "error": "HTTP 500", "created": now, "first_attempt": now,
                                         "last_attempt": now, "next_attempt": None, "delivered": None,
                                         "expires": None})
    return hook, delivery


def start_deliverer(env: dict, log_path: Path) -> tuple[subprocess.Popen, object]:
    """A real delivery process (`python -m server deliver`) with `env`, its output to `log_path`;
    returns (process, log file) for `stop_deliverer`."""
    log = open(log_path, "wb")  # noqa: SIM115 (closed by stop_deliverer)
    process = subprocess.Popen([sys.executable, "-m", "server", "deliver"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    return process, log


def stop_deliverer(process: subprocess.Popen, log) -> None:
    """SIGTERM (a clean stop), SIGKILL after 20 s; a process already gone is left as it is."""
    stop_process(process, 20)
    log.close()
