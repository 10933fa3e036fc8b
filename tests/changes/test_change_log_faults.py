"""The change log under faults, with real processes: a gunicorn worker killed (SIGKILL) and the
embedded database killed while calls write. Afterwards every change a client saw acknowledged has
exactly one entry, no entry names a change that did not happen, and the sequencer numbers every
entry without a gap into a chain that verifies."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests
from pymongo.errors import AutoReconnect

from database import connection
from database.collections import change_log_db, users_db
from server.process.embedded import free_port, start_mongo
from services.changes import chain
from services.changes.sequencer import sequence_pending
from tests.helpers import COMPANY_A, ApiClient, basic, worker_pids
from tests.live_support import start_live_server
from tests.server.test_robust_faults import private_app

V = "2.13"


def _check_log(db, company: str, acknowledged: set[str]) -> None:
    sequence_pending(db, company, settle_sec=0)
    entries = list(db[change_log_db.CHANGE_LOG].find({"company": company, "kind": "project.created"}))
    per_target: dict[str, int] = {}
    for entry in entries:
        per_target[entry["target"]["id"]] = per_target.get(entry["target"]["id"], 0) + 1
    assert all(per_target.get(p) == 1 for p in acknowledged), {p: per_target.get(p) for p in acknowledged}
    existing = {d["_id"] for d in db["projects"].find({"company": company}, {"_id": 1})}
    assert set(per_target) <= existing, set(per_target) - existing  # no entry without its change
    assert max(per_target.values(), default=1) == 1
    numbered = list(change_log_db.scan(db, company))
    head = change_log_db.head(db, company)
    assert [e["seq"] for e in numbered] == list(range(1, len(numbered) + 1)) and head["last_seq"] == len(numbered)
    assert db[change_log_db.CHANGE_LOG].count_documents({"company": company, "seq": {"$exists": False}}) == 0
    assert db[change_log_db.PENDING].count_documents({"company": company}) == 0
    assert chain.verify(change_log_db.scan(db, company), 1, head["last_seq"]) == (len(numbered), None)


def _writers(call, count: int, stop: threading.Event) -> tuple[list[threading.Thread], set[str]]:
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def write(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                project = call({"name": f"p-{n}-{i}"})
            except Exception:  # refused or cut off: not acknowledged
                continue
            if project:
                with lock:
                    acknowledged.add(project)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    return threads, acknowledged


@pytest.mark.e2e
def test_a_killed_worker_leaves_no_acknowledged_change_without_its_entry(tmp_path: Path):
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    uri = f"mongodb://127.0.0.1:{port}/"
    server = start_live_server(uri, tmp_path)
    try:
        session = requests.Session()
        session.auth = (server.access_key, server.secret_key)

        def create(data):
            reply = session.post(f"{server.url}/v{V}/projects.create", json=data, timeout=30)
            return reply.json()["data"]["id"] if reply.status_code == 200 else None

        stop = threading.Event()
        threads, acknowledged = _writers(create, 4, stop)
        time.sleep(1.5)
        for pid in worker_pids(server.process.pid)[:1]:
            os.kill(pid, signal.SIGKILL)
        time.sleep(2.5)  # gunicorn starts another worker; the writers go on
        stop.set()
        for t in threads:
            t.join(60)
        assert len(acknowledged) > 10
        db = connection.connect(uri, server.database)
        try:
            _check_log(db, server.company, acknowledged)
        finally:
            db.client.close()
    finally:
        server.stop()
        mongo.stop()


@pytest.mark.e2e
def test_a_killed_database_leaves_no_acknowledged_change_without_its_entry(tmp_path: Path, registry):
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    app = private_app(tmp_path, registry, port)
    try:
        db = app.modelreg_state.stores.db
        admin = users_db.create_user(db, "ops", COMPANY_A, "faults", "admin")
        users_db.add_credential(db, admin, "FAULTSKEY", "faults-secret")
        client = ApiClient(app, basic("FAULTSKEY", "faults-secret"))

        def create(data):
            reply = client.call("projects.create", data, version=V)
            return reply.json["data"]["id"] if reply.status_code == 200 else None

        stop = threading.Event()
        threads, acknowledged = _writers(create, 3, stop)
        time.sleep(1.0)
        os.kill(mongo.pid, signal.SIGKILL)  # mid-write: some calls are between their write and its entry
        mongo.poll()
        time.sleep(0.5)
        mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")  # the same data folder
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(60)
        assert len(acknowledged) > 5
        checker = connection.connect(f"mongodb://127.0.0.1:{port}/", db.name)  # no call deadline
        try:
            _check_log(checker, COMPANY_A, acknowledged)
        finally:
            checker.client.close()
    finally:
        app.modelreg_state.stores.db.client.close()
        mongo.stop()


@pytest.mark.e2e
def test_no_entry_or_flush_reaches_a_restarted_database_in_place_of_a_lost_change(tmp_path: Path):
    """A change acknowledged but not yet journaled, then the database killed and started again: the
    restarted one may have lost the change, and a fresh connection reaches it all the same. Once the
    client has seen the server go away, the change's entry is not sent, and the call's journal flush
    (which would acknowledge the lost write) is refused too; the call fails as the database unavailable."""
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    db = connection.grouped(connection.connect(f"mongodb://127.0.0.1:{port}/", "faults", timeout_ms=2000))
    try:
        with pytest.raises(AutoReconnect, match="went away while the call wrote"), connection.one_flush(db):
            db["projects"].insert_one({"_id": "lost-change", "company": COMPANY_A})  # acknowledged, unjournaled
            os.kill(mongo.pid, signal.SIGKILL)
            mongo.process.wait(30)
            with pytest.raises(AutoReconnect):  # the client sees the server go away
                db.command("ping")
            mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")  # the same data folder
            db.command("ping")  # and come back
            with pytest.raises(AutoReconnect, match="between a change and its change-log entry"):
                change_log_db.insert_entries(db, [{"_id": "its-entry", "company": COMPANY_A,
                                                   "target": {"type": "project", "id": "lost-change"}}])
        assert db[change_log_db.PENDING].find_one({"_id": "its-entry"}) is None
        # outside a call, and in a call that began after the restart, entries go as before
        with connection.one_flush(db):
            db["projects"].insert_one({"_id": "a-change", "company": COMPANY_A})
            change_log_db.insert_entries(db, [{"_id": "an-entry", "company": COMPANY_A,
                                               "target": {"type": "project", "id": "a-change"}}])
        assert db[change_log_db.PENDING].find_one({"_id": "an-entry"}) is not None
    finally:
        db.client.close()
        mongo.stop()


@pytest.mark.e2e
def test_the_head_is_not_moved_past_numbers_a_restarted_database_may_have_lost(tmp_path: Path):
    """The sequencer numbers a batch unjournaled, then moves the head with a journaled compare-and-set. If
    the database went away in between, a restarted one may have lost the numbers: the head stays, the
    batch is numbered again later, and the numbers stay gapless."""
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    db = connection.grouped(connection.connect(f"mongodb://127.0.0.1:{port}/", "faults", timeout_ms=2000))
    try:
        change_log_db.insert_entries(db, [{"_id": f"e{n}", "company": COMPANY_A, "acked_ns": n, "kind": "x.y",
                                           "target": {"type": "project", "id": f"p{n}"}} for n in range(3)])
        process = connection.server_process(db)
        batch, prev = change_log_db.pending(db, COMPANY_A, None, 10, 0), ""
        for seq, entry in enumerate(batch, 1):
            entry.update(seq=seq, hash=chain.entry_hash(entry, seq, prev), prev_hash=prev)
            prev = entry["hash"]
        assert change_log_db.number(db, batch, "holder")
        os.kill(mongo.pid, signal.SIGKILL)
        mongo.process.wait(30)
        with pytest.raises(AutoReconnect):  # the client sees the server go away
            db.command("ping")
        mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
        db.command("ping")
        assert not change_log_db.move_head(db, COMPANY_A, 0, 3, prev, numbered_on=process)
        assert change_log_db.head(db, COMPANY_A)["last_seq"] == 0
        change_log_db.unnumber(db, COMPANY_A, [e["_id"] for e in batch], "holder")
        sequence_pending(db, COMPANY_A, settle_sec=0)
        numbered = list(change_log_db.scan(db, COMPANY_A))
        assert [e["seq"] for e in numbered] == [1, 2, 3] and change_log_db.head(db, COMPANY_A)["last_seq"] == 3
    finally:
        db.client.close()
        mongo.stop()
