"""Delivery through services/webhooks/deliverer.py against a local receiver: the body is the public
entry signed with the secret, seq order per webhook, kinds and wildcards, retries with backoff, then
parking, the failing state and redelivery; the outbound guard at delivery time."""

from __future__ import annotations

import json
import threading

import pytest

from services.webhooks import rules
from services.webhooks.deliverer import Deliverer, backoff
from tests.helpers import app_with, make_user, new_company
from tests.webhook_support import Receiver, add_entries, verify, wait_for

X = "2.99"
SECRET = "k" * 24


@pytest.fixture
def receiver():
    remote = Receiver()
    yield remote
    remote.close()


@pytest.fixture
def setup(app_config, registry, db):
    app_config.put("outbound.allow_private_networks", True)
    for key, value in {"backoff_base_sec": 0.05, "backoff_max_sec": 0.2, "retry_window_sec": 1.5,
                       "attempt_timeout_sec": 2, "poll_interval_sec": 0.05}.items():
        app_config.put(f"webhooks.{key}", value)
    with app_with(app_config, registry, {}) as application:
        admin = make_user(application, "admin", new_company("a"), role="admin")
        stop = threading.Event()
        deliverer = Deliverer(db, app_config, stop)
        runner = threading.Thread(target=deliverer.run, daemon=True)
        yield admin, db, deliverer, runner
        stop.set()
        if runner.is_alive():
            runner.join(10)


# not webhook.*: the webhooks' own creation is on the change log too
def _hook(admin, url: str, kinds=("model.*", "task.*", "alias.*")) -> str:
    return admin.ok("webhooks.create", {"url": url, "kinds": list(kinds), "secret": SECRET}, version=X)["id"]


def _deliveries(admin, hook, **filters):
    return admin.ok("webhooks.get_deliveries", {"webhook": hook, "page_size": 500, **filters}, version=X)["deliveries"]


def test_entries_arrive_signed_in_seq_order_by_kind(setup, receiver):
    admin, db, _, runner = setup
    company = admin.identity["company"]
    every = _hook(admin, receiver.url("every"))
    models = _hook(admin, receiver.url("models"), ["model.*"])
    exact = _hook(admin, receiver.url("exact"), ["alias.moved"])
    kinds = ["model.created", "task.created", "alias.moved", "model.edited", "model.published", "task.edited"] * 5
    seqs = add_entries(db, company, kinds)
    runner.start()
    model_kinds = [k for k in kinds if k.startswith("model.")]
    wait_for(lambda: len(receiver.delivered("every")) == len(seqs) and len(receiver.delivered("exact")) == 5
             and len(receiver.delivered("models")) >= len(model_kinds))  # each webhook at its own pace
    assert [e["seq"] for e in receiver.delivered("every")] == seqs
    assert [e["kind"] for e in receiver.delivered("models")] == model_kinds
    assert [e["kind"] for e in receiver.delivered("exact")] == ["alias.moved"] * 5
    first = receiver.received[0]
    assert verify(SECRET, first["body"], first["headers"]["X-Modelreg-Signature"])
    body = receiver.delivered("every")[0]
    assert set(body) == {"seq", "time", "user", "company", "endpoint", "version", "trx", "target", "kind", "changes"}
    assert body["company"] == company and body["time"].endswith("Z")
    assert first["headers"]["X-Modelreg-Event"] == body["kind"]
    ids = {r["headers"]["X-Modelreg-Delivery"] for r in receiver.received}
    assert len(ids) == len(receiver.received)
    # the records of a batch are written once it is sent
    listed = wait_for(lambda: {d["seq"]: d for d in _deliveries(admin, every) if d["state"] == "delivered"}
                      if len(_deliveries(admin, every, state=["delivered"])) == len(seqs) else None)
    assert sorted(listed) == seqs
    assert {d["id"] for d in listed.values()} == {r["headers"]["X-Modelreg-Delivery"] for r in receiver.received
                                                  if r["path"].endswith("/every")}
    hooks = {w["id"]: w for w in admin.ok("webhooks.get_all", {}, version=X)["webhooks"]}
    wait_for(lambda: all(w["cursor"] == seqs[-1] for w in admin.ok("webhooks.get_all", {}, version=X)["webhooks"]))
    assert hooks[models]["state"] == hooks[exact]["state"] == "active"


def test_another_companys_entries_never_reach_a_webhook(setup, receiver):
    admin, db, _, runner = setup
    _hook(admin, receiver.url("mine"))
    add_entries(db, new_company("z"), ["model.created"] * 3)
    mine = add_entries(db, admin.identity["company"], ["model.created"])
    runner.start()
    wait_for(lambda: receiver.delivered("mine"))
    assert [e["seq"] for e in receiver.delivered("mine")] == mine
    assert {e["company"] for e in receiver.delivered()} == {admin.identity["company"]}


def test_retries_back_off_then_park_and_redeliver_in_order(setup, receiver):
    admin, db, _, runner = setup
    company = admin.identity["company"]
    hook = _hook(admin, receiver.url("flaky"))
    receiver.status = 503
    receiver.statuses = [500, 502]  # the first two attempts fail, then every one (503) until it is parked
    seqs = add_entries(db, company, ["model.created", "model.edited"])
    runner.start()
    failing = wait_for(lambda: [w for w in admin.ok("webhooks.get_all", {}, version=X)["webhooks"]
                                if w["state"] == "failing"])
    assert failing[0]["last_error"] == "HTTP 503" and failing[0]["failing_since"]
    attempts = [r for r in receiver.received if r["path"].endswith("/flaky")]
    assert len(attempts) >= 3 and {r["headers"]["X-Modelreg-Delivery"] for r in attempts} == {
        attempts[0]["headers"]["X-Modelreg-Delivery"]}  # retries of one delivery keep its id
    # nothing after the head while it fails: order
    assert [json.loads(r["body"])["seq"] for r in attempts] == [seqs[0]] * len(attempts)
    later = add_entries(db, company, ["model.published"])
    wait_for(lambda: len(_deliveries(admin, hook, state=["parked"])) == 3)
    parked = _deliveries(admin, hook, state=["parked"])
    assert sorted(d["seq"] for d in parked) == seqs + later
    assert [d["attempts"] for d in sorted(parked, key=lambda d: d["seq"])][1:] == [0, 0]  # parked unsent
    receiver.status = 200
    assert admin.ok("webhooks.redeliver", {"webhook": hook}, version=X) == {"queued": 3}
    wait_for(lambda: len(receiver.delivered("flaky")) == 3)
    assert [e["seq"] for e in receiver.delivered("flaky")] == seqs + later
    hooks = admin.ok("webhooks.get_all", {}, version=X)["webhooks"]
    assert hooks[0]["state"] == "active"
    newer = add_entries(db, company, ["model.archived"])
    wait_for(lambda: len(receiver.delivered("flaky")) == 4)
    assert receiver.delivered("flaky")[-1]["seq"] == newer[0]
    # one delivered delivery sent again on request, with its id
    one = next(d for d in _deliveries(admin, hook) if d["seq"] == seqs[0])
    assert admin.ok("webhooks.redeliver", {"delivery": one["id"]}, version=X) == {"queued": 1}
    wait_for(lambda: len(receiver.delivered("flaky")) == 5)
    assert receiver.received[-1]["headers"]["X-Modelreg-Delivery"] == one["id"]


def test_backoff_is_full_jitter_below_a_growing_cap():
    settings = rules.WebhookSettings(backoff_base_sec=1, backoff_max_sec=30)
    for attempts, cap in ((0, 1), (1, 2), (3, 8), (10, 30), (100, 30)):
        draws = [backoff(settings, attempts) for _ in range(200)]
        assert all(0 <= d <= cap for d in draws) and max(draws) > cap / 2


def test_the_guard_refuses_loopback_at_delivery_time(app_config, registry, db, receiver):
    """A webhook stored while private networks were allowed reaches nothing once they are not."""
    app_config.put("outbound.allow_private_networks", True)
    with app_with(app_config, registry, {}) as application:
        admin = make_user(application, "admin", new_company("a"), role="admin")
        hook = _hook(admin, receiver.url("guarded", host="localhost"))
        add_entries(db, admin.identity["company"], ["model.created"])
    app_config.put("outbound.allow_private_networks", False)
    deliverer = Deliverer(db, app_config, threading.Event())
    deliverer.round()
    deliverer.pool.shutdown(wait=True)
    pending = db["webhook_deliveries"].find_one({"webhook": hook})
    assert pending["state"] == "pending" and pending["attempts"] == 1 and "not allowed" in pending["error"]
    assert not receiver.received


def test_a_burst_of_deliveries_to_one_receiver_comes_on_one_connection(setup):
    admin, db, _, runner = setup
    remote = Receiver(keep_alive=True)
    try:
        _hook(admin, remote.url("first"))
        _hook(admin, remote.url("second"))
        seqs = add_entries(db, admin.identity["company"], ["model.edited"] * 40)
        runner.start()
        wait_for(lambda: len(remote.delivered("first")) == len(remote.delivered("second")) == len(seqs))
        assert [e["seq"] for e in remote.delivered("first")] == seqs
        assert [e["seq"] for e in remote.delivered("second")] == seqs
        # two webhooks of one host share the process's connections: at most one each at a time
        assert remote.connections() <= 2
    finally:
        remote.close()


def test_a_kept_connection_the_receiver_closed_is_replaced_and_nothing_is_lost(setup):
    admin, db, _, runner = setup
    remote = Receiver(keep_alive=True, one_per_connection=True)
    try:
        hook = _hook(admin, remote.url("hook"))
        seqs = add_entries(db, admin.identity["company"], ["model.edited"] * 10)
        runner.start()
        wait_for(lambda: len(remote.delivered("hook")) == len(seqs))
        # every request after a connection's first was dropped unanswered and sent again on a new one
        assert [e["seq"] for e in remote.delivered("hook")] == seqs
        assert remote.dropped >= 1
        assert remote.connections() == len(seqs)
        # each went through at its first attempt: the replacement is part of the attempt, not a retry
        listed = wait_for(lambda: _deliveries(admin, hook) if len(_deliveries(admin, hook)) == len(seqs) else None)
        assert {(d["state"], d["attempts"]) for d in listed} == {("delivered", 1)}
    finally:
        remote.close()


def test_a_webhook_is_due_only_once_its_company_head_passes_its_cursor(setup):
    """The round reads the heads of the companies it looks at once; a webhook whose cursor is at its
    company's head costs no read of the log, and entries numbered above the head do not make it due."""
    from database.collections import change_log_db
    from database.collections import webhook_deliveries_db as store
    from services.changes import chain
    from services.changes.sequencer import sequence_pending

    admin, db, _deliverer, _runner = setup
    hook = _hook(admin, "http://127.0.0.1:9/never")
    company = admin.identity["company"]
    sequence_pending(db, company, settle_sec=0)
    head = change_log_db.head(db, company)["last_seq"]

    def due() -> bool:
        return hook in {h["_id"] for h in store.due_webhooks(db, 100, set())[0]}

    assert head >= 1 and due()  # its own creation is after its cursor 0
    db["webhooks"].update_one({"_id": hook}, {"$set": {"cursor": head}})
    assert not due()
    admin.ok("models.create", {"name": "due", "uri": "s3://b/due"}, version="2.13")
    batch = change_log_db.pending(db, company, None, 10, head)
    prev = change_log_db.head(db, company)["hash"]
    for seq, entry in enumerate(batch, head + 1):
        entry.update(seq=seq, hash=chain.entry_hash(entry, seq, prev), prev_hash=prev)
        prev = entry["hash"]
    assert change_log_db.number(db, batch, "slow")  # numbered, the head not moved yet
    assert not due()
    assert change_log_db.move_head(db, company, head, head + len(batch), prev)
    assert due()
