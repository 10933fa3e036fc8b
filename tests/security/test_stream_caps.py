"""Long reads (NDJSON streams of records) share the database fairly: a per-company and a global cap on
the streams running at once, held as leases in MongoDB so every worker and host counts the same slots."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from database.collections import stream_leases
from server.http.backpressure import ClosingStream
from server.http.dispatcher import Dispatcher
from services.shared.long_reads import LongReads
from tests.helpers import COMPANY_A, COMPANY_B, app_with, make_user

V = "2.99"


@pytest.fixture
def capped(app_config, registry, db):
    with app_with(app_config, registry, {"streams.max_per_company": 2, "streams.max_total": 3,
                                         "streams.lease_sec": 30}) as application:
        yield application


def _with_records(client) -> str:
    model = client.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
    for i in range(3):
        client.ok("records.add", {"model": model, "timestamp": f"2024-05-01T00:0{i}:00Z", "data": {"i": i}},
                  version=V)
    return model


def open_stream(app, client, request: dict | None = None):
    """A stream as the WSGI server holds it while the client reads: open until closed."""
    body = json.dumps(request or {}).encode()
    headers = {"AUTHORIZATION": client.authorization, "ACCEPT": "application/x-ndjson",
               "CONTENT-TYPE": "application/json"}
    outcome = Dispatcher(app.modelreg_state).dispatch("POST", f"/v{V}/records.get_all", "", headers, {},
                                                      io.BytesIO(body), len(body))
    if outcome.stream is None:
        return outcome, None
    return outcome, ClosingStream(outcome.stream.chunks, outcome.stream.close)


def _busy(outcome, setting: str) -> None:
    assert outcome.status == 503 and outcome.stream is None
    assert int(outcome.headers["Retry-After"]) > 0
    meta = json.loads(outcome.body)["meta"]
    assert meta["result_code"] == 503 and setting in meta["result_msg"], meta


def test_a_company_at_its_cap_is_refused_at_once_while_others_are_served(capped):
    alice = make_user(capped, "alice", COMPANY_A, role="admin")
    bob = make_user(capped, "bob", COMPANY_B, role="admin")
    _with_records(alice)
    _with_records(bob)
    held = [open_stream(capped, alice)[1] for _ in range(2)]
    try:
        started = time.monotonic()
        outcome, _ = open_stream(capped, alice)
        _busy(outcome, "streams.max_per_company")
        assert time.monotonic() - started < 2  # answered at once, not queued
        # another company streams, and the capped company's plain calls are served
        outcome, body = open_stream(capped, bob)
        assert outcome.status == 200 and b"".join(body).count(b"\n") == 3
        body.close()
        assert len(alice.ok("records.get_all", {}, version=V)["records"]) == 3
    finally:
        held[0].close()
    outcome, body = open_stream(capped, alice)  # a closed stream gave its slot back
    assert outcome.status == 200 and b"".join(body).count(b"\n") == 3
    body.close()
    held[1].close()


def test_the_global_cap_counts_every_company(capped):
    alice = make_user(capped, "alice", COMPANY_A, role="admin")
    bob = make_user(capped, "bob", COMPANY_B, role="admin")
    _with_records(alice)
    held = [open_stream(capped, alice)[1] for _ in range(2)] + [open_stream(capped, bob)[1]]
    try:
        _busy(open_stream(capped, bob)[0], "streams.max_total")
    finally:
        for body in held:
            body.close()
    outcome, body = open_stream(capped, bob)
    assert outcome.status == 200
    body.close()


def test_a_refused_or_failed_stream_holds_no_slot(capped, db):
    alice = make_user(capped, "alice", COMPANY_A, role="admin")
    _with_records(alice)
    for _ in range(3):  # more failures than the cap: each gave back what it took
        outcome, _ = open_stream(capped, alice, {"order_by": ["no_such_field"]})
        assert outcome.status == 400
    assert db[stream_leases.LEASES].count_documents({}) == 0
    bodies = [open_stream(capped, alice)[1] for _ in range(2)]
    assert db[stream_leases.LEASES].count_documents({}) == 4  # two under the company's cap, two under the total
    for body in bodies:
        body.close()
    assert db[stream_leases.LEASES].count_documents({}) == 0


def test_a_dead_holders_slot_comes_back_after_its_lease(app_config, registry, db):
    with app_with(app_config, registry, {"streams.max_per_company": 1, "streams.max_total": 0}) as app:
        alice = make_user(app, "alice", COMPANY_A, role="admin")
        _with_records(alice)
        # a worker took the company's only slot and died: nothing renews its lease
        assert stream_leases.take(db, f"company:{COMPANY_A}", 1, "dead-worker", 0.6) is not None
        _busy(open_stream(app, alice)[0], "streams.max_per_company")
        time.sleep(0.7)
        outcome, body = open_stream(app, alice)
        assert outcome.status == 200 and b"".join(body).count(b"\n") == 3
        body.close()


def test_a_running_long_read_keeps_its_slot_past_the_lease(db):
    """The holder's process renews its leases while the read runs."""
    reads = LongReads(db, max_per_company=1, max_total=0, lease_sec=0.6)
    release = reads.acquire("c1")
    time.sleep(1.5)  # more than twice the lease
    with pytest.raises(Exception, match="streams.max_per_company"):
        LongReads(db, max_per_company=1, lease_sec=0.6).acquire("c1")
    release()
    LongReads(db, max_per_company=1, lease_sec=0.6).acquire("c1")()


@pytest.mark.parametrize("size", [1, 3])
def test_concurrent_takers_of_the_last_slots_never_overbook(db, size):
    takers = 12
    start = threading.Barrier(takers)
    won: list[str] = []

    def take(n: int) -> None:
        start.wait()
        slot = stream_leases.take(db, "race", size, f"holder-{n}", 30)
        if slot is not None:
            won.append(slot)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == size and len(set(won)) == size
    assert db[stream_leases.LEASES].count_documents({"_id": {"$regex": "^race:"}}) == size
