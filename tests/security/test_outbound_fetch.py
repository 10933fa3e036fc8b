"""The guarded outbound client (services/shared/outbound.py) and models.import_url through it: the total
deadline against a remote that trickles bytes, the connect deadline, the private-address switch, every
redirect checked, and an import counted as a transfer (503 with Retry-After past server.max_transfers).

The remotes are real sockets on 127.0.0.1 (a test's own threads). Where the guard must let the first
hop through and refuse the redirect to loopback, the client runs in a network namespace of its own
whose loopback device also carries a public address."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from server.config import load_config
from services.shared import outbound
from services.shared.outbound import OutboundPolicy
from tests.files_support import app_with_s3, visible_objects
from tests.helpers import COMPANY_A, codes, make_user

X = "2.99"
ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_URI = "https://elsewhere/x.pt"
WEIGHTS = b"w" * 4096


class Remote:
    """An HTTP server of raw sockets, each connection served by a thread: `/weights` answers at once,
    `/slow-body` sends its headers then one byte a second, `/slow-unsized` the same without a length,
    `/slow-head` its status line and headers one byte a second; `/redirect/<status>/<url>` redirects;
    `/echo` answers with the request it got (method, headers, body) as JSON."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.slow_started = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _trickle(self, conn, data: bytes) -> None:
        self.slow_started.set()
        for byte in data:
            if self.stop.wait(1):
                return
            conn.sendall(bytes([byte]))

    def _serve(self, conn) -> None:
        with conn:
            try:
                head = b""
                while b"\r\n\r\n" not in head:
                    piece = conn.recv(65536)
                    if not piece:
                        return
                    head += piece
                head, body = head.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = dict(line.split(": ", 1) for line in lines[1:])
                while len(body) < int(headers.get("Content-Length", 0)):
                    body += conn.recv(65536)
                self._answer(conn, method, path, headers, body)
            except OSError:
                return

    def _answer(self, conn, method, path, headers, body) -> None:
        if path == "/weights":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(WEIGHTS) + WEIGHTS)
        elif path == "/slow-body":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            self._trickle(conn, b"x" * 1000)
        elif path == "/slow-unsized":
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
            self._trickle(conn, b"x" * 1000)
        elif path == "/slow-head":
            self._trickle(conn, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 1000)
        elif path.startswith("/redirect/"):
            _, _, status, target = path.split("/", 3)
            conn.sendall(f"HTTP/1.1 {status} Moved\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode())
        elif path == "/echo":
            echoed = json.dumps({"method": method, "headers": headers, "body": body.decode()}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(echoed) + echoed)
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def remote():
    server = Remote()
    yield server
    server.close()


@pytest.fixture
def make_app(app_config, registry, db, s3, bucket):
    """Builds the app with these settings over loopback-friendly defaults; closes what it built."""
    built = []

    def make(**settings):
        defaults = {"import.allowed_hosts": ["127.0.0.1", "localhost"], "outbound.allow_private_networks": True,
                    "outbound.total_timeout_sec": 2, "outbound.connect_timeout_sec": 1}
        for key, value in {**defaults, **settings}.items():
            app_config.put(key, value)
        app = app_with_s3(app_config, registry, s3, bucket=bucket)
        built.append(app)
        return make_user(app, "alice", COMPANY_A, role="admin")

    yield make
    for app in built:
        app.modelreg_state.stores.db.client.close()


def _model(client) -> str:
    return client.ok("models.create", {"name": "imported-model", "uri": ORIGINAL_URI}, version=X)["id"]


def _import(client, model, url):
    return client.call("models.import_url", {"model": model, "url": url}, version=X)


def _failed(reply, subcode=1004) -> str:
    meta = reply.json["meta"]
    assert codes(meta) == (400, subcode), meta
    return meta["result_msg"]


def _unchanged(client, model, s3, bucket) -> None:
    """Nothing of a failed import is kept: the model's uri and file are as before, no object stored."""
    stored = client.ok("models.get_by_id", {"model": model}, version=X)["model"]
    assert stored["uri"] == ORIGINAL_URI and "file" not in stored
    assert visible_objects(s3, bucket) == []


# --- deadlines -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/slow-body", "/slow-unsized"])
def test_a_trickled_body_ends_at_the_total_limit_and_nothing_is_stored(make_app, remote, s3, bucket, path):
    alice = make_app(**{"outbound.total_timeout_sec": 1})
    model = _model(alice)
    started = time.monotonic()
    reply = _import(alice, model, remote.url(path))
    elapsed = time.monotonic() - started
    assert "total time limit" in _failed(reply)
    # bytes keep coming each second for 1,000 s: only the total limit ends it (the upper bound leaves room
    # for a loaded machine)
    assert 0.9 < elapsed < 10, elapsed
    _unchanged(alice, model, s3, bucket)


def test_trickled_headers_end_at_the_total_limit(remote):
    policy = OutboundPolicy(allow_private_networks=True, total_timeout_sec=1)
    started = time.monotonic()
    with pytest.raises(outbound.OutboundFailed, match="total time limit"):
        outbound.request(remote.url("/slow-head"), policy)
    assert time.monotonic() - started < 10


def test_a_listener_that_accepts_nothing_ends_at_the_connect_limit(make_app, s3, bucket):
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []  # a full accept queue: the kernel drops further connection attempts
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        alice = make_app(**{"outbound.connect_timeout_sec": 1, "outbound.total_timeout_sec": 30})
        model = _model(alice)
        started = time.monotonic()
        reply = _import(alice, model, f"http://127.0.0.1:{listener.getsockname()[1]}/w.pt")
        elapsed = time.monotonic() - started
        assert "connect_timeout_sec" in _failed(reply)
        assert 0.8 < elapsed < 10, elapsed  # not the 30 s total limit
        _unchanged(alice, model, s3, bucket)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# --- the private-address switch ------------------------------------------------------------------


def test_loopback_is_refused_unless_private_networks_are_allowed(make_app, remote, s3, bucket):
    alice = make_app(**{"outbound.allow_private_networks": False})
    model = _model(alice)
    for host in ("127.0.0.1", "localhost"):
        msg = _failed(_import(alice, model, remote.url("/weights", host)), subcode=1003)
        assert "loopback" in msg and "outbound.allow_private_networks" in msg
    _unchanged(alice, model, s3, bucket)

    alice = make_app(**{"outbound.allow_private_networks": True})
    model = _model(alice)
    assert alice.ok("models.import_url", {"model": model, "url": remote.url("/weights")}, version=X)["size"] == 4096


def test_the_older_import_setting_still_allows_private_addresses(make_app, remote):
    alice = make_app(**{"outbound.allow_private_networks": False, "import.allow_private_addresses": True})
    assert alice.ok("models.import_url", {"model": _model(alice), "url": remote.url("/weights")}, version=X)


def test_the_switch_and_its_older_name_from_the_environment():
    assert load_config(env={}).get("outbound.allow_private_networks") is False
    for name in ("MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "MODELREG_IMPORT_ALLOW_PRIVATE_ADDRESSES"):
        config = load_config(env={name: "true"})
        assert OutboundPolicy.from_config(config).allow_private_networks is True


def test_addresses_that_embed_a_private_one_are_refused():
    for address in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "fd00::1", "::ffff:10.0.0.1",
                    "64:ff9b::a00:1", "2002:a00:1::1", "0.0.0.0", "224.0.0.1"):
        assert not outbound.address_allowed(address, False), address
    for address in ("8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"):
        assert outbound.address_allowed(address, False), address


# --- redirects, methods, bodies ------------------------------------------------------------------

NAMESPACE_SCRIPT = r"""
import json, socket, sys, threading
from services.shared import outbound

listener = socket.create_server(("0.0.0.0", 0))
port = listener.getsockname()[1]

def serve():
    while True:
        conn, _ = listener.accept()
        with conn:
            path = conn.recv(65536).split(b" ")[1].decode()
            if path == "/weights":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:
                target = path.split("/", 2)[2].replace("PORT", str(port))
                conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode())

threading.Thread(target=serve, daemon=True).start()
policy = outbound.OutboundPolicy(total_timeout_sec=10)
result = {}
response = outbound.request(f"http://8.8.4.4:{port}/weights", policy)
result["public"] = [response.status, response.read(10).decode()]
response.close()
for name in ("http://127.0.0.1:PORT/weights", "http://localhost:PORT/weights", "http://[::1]:PORT/weights"):
    try:
        outbound.request(f"http://8.8.4.4:{port}/to/{name}", policy).close()
        result[name] = "fetched"
    except outbound.OutboundRefused as exc:
        result[name] = str(exc)
print(json.dumps(result))
"""


def _namespaces_available() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
    return probe.returncode == 0


def test_a_redirect_from_a_public_address_to_loopback_is_refused():
    assert _namespaces_available(), "needs `unshare -n` and `ip` (util-linux, iproute2) as root"
    setup = "ip link set lo up && ip addr add 8.8.4.4/32 dev lo && exec \"$0\" \"$@\""
    done = subprocess.run(["unshare", "-n", "sh", "-c", setup, sys.executable, "-c", NAMESPACE_SCRIPT],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result.pop("public") == [200, "ok"]  # the public address itself passes the guard
    for target, outcome in result.items():
        assert "not allowed" in outcome and "loopback" in outcome, (target, outcome)


def test_requests_carry_a_method_headers_and_a_body_across_redirects(remote):
    policy = OutboundPolicy(allow_private_networks=True, total_timeout_sec=5)
    sent = {"Content-Type": "application/json", "Authorization": "Bearer secret", "X-Event": "model.published"}

    def echoed(path):
        response = outbound.request(remote.url(path), policy, method="POST", body=b'{"a": 1}', headers=sent)
        try:
            assert response.status == 200
            return json.loads(response.read(65536))
        finally:
            response.close()

    direct = echoed("/echo")
    assert direct["method"] == "POST" and direct["body"] == '{"a": 1}'
    assert direct["headers"]["Authorization"] == "Bearer secret" and direct["headers"]["X-Event"] == "model.published"
    # 307 repeats the method and body; to another host name the credentials stay behind
    repeated = echoed(f"/redirect/307/{remote.url('/echo', 'localhost')}")
    assert repeated["method"] == "POST" and repeated["body"] == '{"a": 1}'
    assert "Authorization" not in repeated["headers"] and repeated["headers"]["X-Event"] == "model.published"
    # 303 continues as a GET without the body
    switched = echoed("/redirect/303//echo")
    assert switched["method"] == "GET" and switched["body"] == "" and "Content-Type" not in switched["headers"]


def test_redirects_stop_at_the_limit(remote):
    policy = OutboundPolicy(allow_private_networks=True, max_redirects=2)
    chain = remote.url("/redirect/302/" + remote.url("/redirect/302/" + remote.url("/weights")))
    outbound.request(chain, policy).close()  # two hops: allowed
    with pytest.raises(outbound.OutboundRefused, match="too many redirects"):
        outbound.request(remote.url("/redirect/302/" + chain), policy)


# --- an import is a transfer ---------------------------------------------------------------------


def test_an_import_takes_a_transfer_slot(make_app, remote):
    alice = make_app(**{"server.max_transfers": 1, "server.retry_after_sec": 7, "outbound.total_timeout_sec": 1.5})
    first_model, second_model = _model(alice), _model(alice)
    slow = {}
    holder = threading.Thread(target=lambda: slow.update(reply=_import(alice, first_model, remote.url("/slow-body"))))
    holder.start()
    try:
        assert remote.slow_started.wait(10)  # the slow import holds the only slot
        started = time.monotonic()
        busy = _import(alice, second_model, remote.url("/weights"))
        assert time.monotonic() - started < 1
        assert busy.status_code == 503 and busy.headers.get("Retry-After") == "7", busy.text
        assert codes(busy.json["meta"]) == (503, 0)
    finally:
        holder.join(15)
    assert "total time limit" in _failed(slow["reply"])
    # the slot came back when the slow import ended
    assert alice.ok("models.import_url", {"model": second_model, "url": remote.url("/weights")}, version=X)
