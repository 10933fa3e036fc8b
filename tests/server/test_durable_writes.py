"""Durable acknowledgements: a write the API acknowledged survives a crash (SIGKILL) of the database
process. Every write goes with writeConcern `j: true` (mongo.journal, on by default); without it the
embedded server leaves its journal to the OS and a SIGKILL loses a few acknowledged writes (about 1 in
60 inserts under 4 threads on the embedded server)."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time

from database.collections import users_db
from server.config import load_config
from server.http.app import build_state, create_app
from server.process.embedded import free_port, start_mongo
from tests.helpers import COMPANY_A, ApiClient, app_with, basic, make_user, new_company

V = "2.13"
THREADS = 4


def _config(port: int, **overrides):
    return load_config(overrides={
        "mongo.uri": f"mongodb://127.0.0.1:{port}/",
        "mongo.database": "durable",
        "mongo.timeout_ms": 1000,
        "mongo.deadline_sec": 2,
        "auth.token_secret": secrets.token_hex(32),
        "auth.default_company": COMPANY_A,
        **overrides,
    }, env={})


def test_the_journal_setting_sets_the_write_concern_of_every_write(tmp_path, registry, mongo_uri):
    on = build_state(load_config(overrides={"mongo.uri": mongo_uri, "auth.token_secret": "x" * 32}, env={}), registry)
    off = build_state(load_config(overrides={"mongo.uri": mongo_uri, "auth.token_secret": "x" * 32,
                                             "mongo.journal": False}, env={}), registry)
    try:
        # journaled by default; a call's writes go unjournaled and share one journaled flush at its end
        assert on.stores.db.client.write_concern.document.get("j") is True
        assert on.stores.db["models"].write_concern.document.get("j") is False
        assert not off.stores.db.client.write_concern.document.get("j")
        assert not off.stores.db["models"].write_concern.document.get("j")
    finally:
        on.stores.db.client.close()
        off.stores.db.client.close()


def test_acknowledged_creates_survive_a_killed_database(tmp_path, registry):
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    app = create_app(_config(port), build_state(_config(port), registry))
    try:
        db = app.modelreg_state.stores.db
        admin = users_db.create_user(db, "ops", COMPANY_A, "durable", "admin")
        users_db.add_credential(db, admin, "DURABLEKEY", "durable-secret")
        token = ApiClient(app, basic("DURABLEKEY", "durable-secret")).ok("auth.login")["token"]
        acknowledged: list[str] = []
        failures: list = []
        started = threading.Barrier(THREADS + 1)
        down = threading.Event()

        def create(thread: int) -> None:
            client = ApiClient(app, f"Bearer {token}")
            started.wait()
            number = 0
            while not down.is_set():
                fields = {"name": f"durable {thread} {number}", "uri": f"s3://b/{thread}/{number}"}
                reply = client.call("models.create", fields, version=V)
                if reply.status_code == 200:
                    acknowledged.append(reply.json["data"]["id"])
                else:
                    failures.append(reply.json["meta"]["result_msg"])
                number += 1

        threads = [threading.Thread(target=create, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        started.wait()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(mongo.pid, signal.SIGKILL)  # in the middle of writes, as a crash would
        mongo.stop()
        down.set()
        for thread in threads:
            thread.join()
        assert len(acknowledged) >= 400, failures[:3]

        mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")  # the same data folder
        stored = {d["_id"] for d in db["models"].find({"_id": {"$in": acknowledged}}, {"_id": 1})}
        assert set(acknowledged) - stored == set()
    finally:
        app.modelreg_state.stores.db.client.close()
        mongo.stop()


def _flushes(app) -> int:
    return sum(d["n"] for d in app.modelreg_state.stores.db["journal_flushes"].find({}, {"n": 1}))


def test_a_call_that_writes_ends_with_one_journal_flush_and_a_read_with_none(app_config, registry):
    """With the change log off, a call's unjournaled writes end with one journal flush."""
    with app_with(app_config, registry, {"change_log.enabled": False}) as application:
        client = make_user(application, "flusher", new_company("f"), role="admin")
        before = _flushes(application)
        model = client.ok("models.create", {"name": "flushed once", "uri": "s3://b/f"}, version=V)["id"]
        assert _flushes(application) == before + 1  # a create makes several writes: one flush covers them all
        client.ok("models.get_by_id", {"model": model}, version=V)
        client.ok("models.get_all", {"name": "flushed"}, version=V)
        assert _flushes(application) == before + 1
        client.ok("models.edit", {"model": model, "comment": "again"}, version=V)
        assert _flushes(application) == before + 2
        # a call that fails after writing still flushes what it wrote; one that writes nothing does not
        client.error("models.edit", {"model": "no such model", "comment": "x"}, version=V)
        assert _flushes(application) == before + 2


def test_a_read_that_only_takes_a_long_read_slot_needs_no_flush(app_config, registry):
    """A slot of the long-read caps is a lease that expires by itself: taking and giving it back are
    writes a crash may lose, so a read that makes only those ends without a journal flush."""
    with app_with(app_config, registry, {"change_log.enabled": False}) as application:
        client = make_user(application, "reader", new_company("r"), role="admin")
        model = client.ok("models.create", {"name": "charted", "uri": "s3://b/c"}, version=V)["id"]
        client.ok("records.add", {"model": model, "timestamp": "2024-05-01T10:00:00Z", "data": {"x": 1}},
                  version="2.99")
        db = application.modelreg_state.stores.db
        before, deletes = _flushes(application), db.command("serverStatus")["opcounters"]["delete"]
        series = client.ok("records.get_series", {"model": model, "field": "x"}, version="2.99")
        assert series["count"] == 1 and _flushes(application) == before
        assert db.command("serverStatus")["opcounters"]["delete"] > deletes  # its slot was given back


def test_a_call_whose_last_write_is_its_journaled_entry_needs_no_flush(app, client):
    """The change log's entries are written journaled, right after the change: that one write puts the
    change on disk too, so the call adds no flush."""
    before = _flushes(app)
    model = client.ok("models.create", {"name": "logged", "uri": "s3://b/l"}, version=V)["id"]
    client.ok("models.edit", {"model": model, "comment": "again"}, version=V)
    assert _flushes(app) == before


def test_a_records_add_ends_with_its_journaled_entry_and_a_chart_read_with_no_flush(app, client):
    """The roll-up sums written after a record's entry are bookkeeping a crash may lose (the hour is then
    read from its records): neither the add nor a chart read adds a journal flush."""
    model = client.ok("models.create", {"name": "rolled up", "uri": "s3://b/r"}, version=V)["id"]
    before = _flushes(app)
    client.ok("records.add", {"model": model, "timestamp": "2024-05-01T10:00:00Z", "data": {"x": 1}},
              version="2.99")
    assert _flushes(app) == before
    head = app.modelreg_state.stores.db["record_rollups"].find_one({"model": model, "dim": ""})
    assert head["h"]["10"]["c"] == 1 and head["h"]["10"]["inflight"] == 0  # its second step was written
    series = client.ok("records.get_series", {"model": model, "field": "x"}, version="2.99")
    assert series["count"] == 1 and _flushes(app) == before
