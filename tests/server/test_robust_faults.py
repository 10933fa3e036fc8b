"""Failing dependencies: the database or object store paused (SIGSTOP) or gone, a worker killed in the
middle of requests. Every call ends with a clean envelope (503 with Retry-After while a dependency is
away), the service serves again once it is back, and every acknowledged write is there afterwards.
Each test pauses servers of its own, so no other test is affected."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

import requests

from database.collections import users_db
from server.config import load_config
from server.http.app import build_state, create_app
from server.process.embedded import free_port, start_mongo
from tests.files_support import PART_SIZE, app_with_s3, start_private_s3
from tests.helpers import COMPANY_A, ApiClient, basic, codes, make_user, worker_pids
from tests.live_support import start_live_server

V = "2.13"
RECOVERY_ATTEMPTS = 50  # calls, 0.1 s apart, within which the service must serve again


def private_app(tmp_path: Path, registry, port: int, **overrides):
    config = load_config(overrides={
        "mongo.uri": f"mongodb://127.0.0.1:{port}/",
        "mongo.database": "faults",
        "mongo.timeout_ms": 1000,
        "mongo.deadline_sec": 2,
        "auth.token_secret": secrets.token_hex(32),
        "auth.default_company": COMPANY_A,
        **overrides,
    }, env={})
    return create_app(config, build_state(config, registry))


def serves_again(client: ApiClient) -> dict:
    for _ in range(RECOVERY_ATTEMPTS):
        result = client.call("models.get_all", {"only_fields": ["id"]}, version=V)
        if result.status_code == 200:
            return result.json["data"]
        assert codes(result.json["meta"]) == (503, 1), result.json["meta"]
        time.sleep(0.1)
    raise AssertionError("the service did not serve again after the database came back")


def pause(pid: int) -> None:
    """SIGSTOP, then waits until every thread of the process has stopped (delivery is asynchronous: on a
    busy machine a thread can still answer a request sent right after kill() returned)."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(200):
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                states.append(task.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not stop")


def assert_unavailable(result, subcode: int, message: str) -> None:
    meta = result.json["meta"]
    assert result.status_code == 503 and codes(meta) == (503, subcode), meta
    assert meta["result_msg"] == message  # no driver internals
    assert result.headers.get("Retry-After", "").isdigit()


def test_a_paused_database_gives_503_then_serves_again_with_every_acknowledged_write(tmp_path, registry):
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    app = None
    try:
        app = private_app(tmp_path, registry, port)
        db = app.modelreg_state.stores.db
        admin = users_db.create_user(db, "ops", COMPANY_A, "faults", "admin")
        users_db.add_credential(db, admin, "FAULTSKEY", "faults-secret")
        client = ApiClient(app, basic("FAULTSKEY", "faults-secret"))
        bearer = ApiClient(app, "Bearer " + client.ok("auth.login")["token"])
        acknowledged = {bearer.ok("models.create", {"name": f"kept {n}", "uri": f"s3://b/{n}"}, version=V)["id"]
                        for n in range(5)}

        pause(mongo.pid)
        try:
            for endpoint, data in (
                ("models.get_all", {"name": "kept"}),
                ("models.get_by_id", {"model": next(iter(acknowledged))}),
                ("models.edit", {"model": next(iter(acknowledged)), "comment": "while paused"}),
                ("models.create", {"name": "unacknowledged", "uri": "s3://b/x"}),
            ):
                assert_unavailable(bearer.call(endpoint, data, version=V), 1, "Database is unavailable")
            assert_unavailable(client.call("server.info"), 1, "Database is unavailable")  # Basic auth reads it
        finally:
            os.kill(mongo.pid, signal.SIGCONT)

        listed = {m["id"] for m in serves_again(bearer)["models"]}
        assert acknowledged <= listed
        acknowledged.add(bearer.ok("models.create", {"name": "after", "uri": "s3://b/after"}, version=V)["id"])
        assert acknowledged <= {m["id"] for m in serves_again(client)["models"]}
    finally:
        if app is not None:
            app.modelreg_state.stores.db.client.close()
        os.kill(mongo.pid, signal.SIGCONT)
        mongo.stop()


def test_a_restarted_database_is_served_again_with_every_acknowledged_write(tmp_path, registry):
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    app = private_app(tmp_path, registry, port)
    try:
        db = app.modelreg_state.stores.db
        admin = users_db.create_user(db, "ops", COMPANY_A, "faults", "admin")
        users_db.add_credential(db, admin, "FAULTSKEY", "faults-secret")
        client = ApiClient(app, basic("FAULTSKEY", "faults-secret"))
        bearer = ApiClient(app, "Bearer " + client.ok("auth.login")["token"])
        acknowledged = {bearer.ok("models.create", {"name": f"kept {n}", "uri": f"s3://b/{n}"}, version=V)["id"]
                        for n in range(5)}
        mongo.stop()
        assert_unavailable(bearer.call("models.get_all", {}, version=V), 1, "Database is unavailable")
        mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")  # the same data folder
        assert acknowledged <= {m["id"] for m in serves_again(bearer)["models"]}
    finally:
        app.modelreg_state.stores.db.client.close()
        mongo.stop()


def resume(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the test may have stopped it already
        os.kill(pid, signal.SIGCONT)


def upload_with_pause(alice, s3_pid: int, pause_sec: float):
    """models.upload of 3 parts; the object store is paused for `pause_sec` once the first part is read."""
    from tests.files.test_files_rpc import Body, new_model, upload

    model_id = new_model(alice)
    paused = threading.Event()

    def pause_storage(position):
        if position >= PART_SIZE + 100 and not paused.is_set():
            paused.set()
            pause(s3_pid)
            threading.Timer(pause_sec, resume, (s3_pid,)).start()

    size = 3 * PART_SIZE
    data = os.urandom(size)
    return model_id, data, upload(alice, model_id, Body(data, pause_storage), length=size)


def test_an_object_store_paused_shorter_than_the_read_timeout_is_survived(app_config, registry, db, tmp_path):
    private = start_private_s3(tmp_path)
    try:
        app = app_with_s3(app_config, registry, private)  # read timeout 10 s
        alice = make_user(app, "alice", COMPANY_A, role="admin")
        model_id, data, result = upload_with_pause(alice, private.handle.pid, 2)
        assert result.status_code == 200, result.json
        downloaded = alice.call("models.download", {"model": model_id}, version=V)
        assert downloaded.status_code == 200 and downloaded.content == data
    finally:
        resume(private.handle.pid)
        private.kill()


def test_an_object_store_paused_longer_than_the_read_timeout_gives_503(app_config, registry, db, tmp_path):
    private = start_private_s3(tmp_path)
    try:
        app = _with_read_timeout(app_config, registry, private, 2)
        alice = make_user(app, "alice", COMPANY_A, role="admin")
        model_id, _, result = upload_with_pause(alice, private.handle.pid, 8)
        assert_unavailable(result, 2, "Object storage is unavailable")
        assert "file" not in alice.ok("models.get_by_id", {"model": model_id}, version=V)["model"]
    finally:
        resume(private.handle.pid)
        private.kill()


def _with_read_timeout(app_config, registry, s3, seconds: int):
    from tests.files_support import s3_overrides

    for key, value in {**s3_overrides(s3), "s3.read_timeout_sec": seconds}.items():
        app_config.put(key, value)
    return create_app(app_config, build_state(app_config, registry))


def test_a_worker_killed_mid_request_leaves_the_others_serving(mongo_uri, tmp_path):
    server = start_live_server(mongo_uri, tmp_path)
    auth = (server.access_key, server.secret_key)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        acknowledged = set()
        for n in range(5):
            reply = requests.post(server.url + "/api/v2.13/models.create", auth=auth, timeout=60,
                                  json={"name": f"kept {n}", "uri": "s3://b/k"})
            assert reply.status_code == 200
            acknowledged.add(reply.json()["data"]["id"])
        in_flight = []
        for _ in range(4):  # requests under way on both workers (their bodies never finish)
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            sock.sendall(b"POST /debug.ping HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
            in_flight.append(sock)
        time.sleep(0.5)
        victim = worker_pids(server.process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        for _ in range(10):
            assert requests.post(server.url + "/debug.ping", json={}, timeout=60).status_code == 200
        listed = requests.post(server.url + "/api/v2.13/models.get_all", json={"only_fields": ["id"]},
                               auth=auth, timeout=60).json()["data"]["models"]
        assert acknowledged <= {m["id"] for m in listed}
        assert server.process.poll() is None  # the master lives on and replaces the worker
        for _ in range(RECOVERY_ATTEMPTS):
            if len(worker_pids(server.process.pid)) == 2 and victim not in worker_pids(server.process.pid):
                break
            time.sleep(0.1)
        assert victim not in worker_pids(server.process.pid) and len(worker_pids(server.process.pid)) == 2
        for sock in in_flight:
            sock.close()
    finally:
        server.stop()
