"""Real delivery processes (`python -m server deliver`): two at once never deliver one webhook
concurrently and each webhook's entries still arrive in order; one killed with SIGKILL mid-delivery
loses nothing (the next holder sends the pending delivery again once the lease expires)."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.helpers import app_with, make_user, new_company
from tests.webhook_support import Receiver, add_entries, start_deliverer, stop_deliverer, wait_for

X = "2.99"


@pytest.fixture
def receiver():
    remote = Receiver(delay=0.02)
    yield remote
    remote.close()


@pytest.fixture
def start(mongo_uri, db_name, tmp_path):
    started = []

    def spawn(name: str, **settings) -> subprocess.Popen:
        env = {**os.environ, "MODELREG_MONGO_URI": mongo_uri, "MODELREG_MONGO_DATABASE": db_name,
               "MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true", "MODELREG_WEBHOOKS_POLL_INTERVAL_SEC": "0.05",
               "MODELREG_WEBHOOKS_ATTEMPT_TIMEOUT_SEC": "2", "MODELREG_WEBHOOKS_LEASE_SEC": "9",
               **{f"MODELREG_WEBHOOKS_{k.upper()}": str(v) for k, v in settings.items()}}
        process, log = start_deliverer(env, tmp_path / f"{name}.log")
        started.append((process, log))
        return process

    yield spawn
    for process, log in started:
        stop_deliverer(process, log)


@pytest.fixture
def admin(app_config, registry, db):
    with app_with(app_config, registry, {"outbound.allow_private_networks": True}) as application:
        yield make_user(application, "admin", new_company("a"), role="admin")


def _seqs(receiver, name):
    return [json.loads(r["body"])["seq"] for r in receiver.received if r["path"].endswith("/" + name)]


def test_two_processes_share_webhooks_but_never_deliver_one_at_once(admin, db, receiver, start):
    names = [f"h{i}" for i in range(4)]
    for name in names:
        admin.ok("webhooks.create", {"url": receiver.url(name), "kinds": ["model.*"], "secret": "x" * 16}, version=X)
    seqs = add_entries(db, admin.identity["company"], ["model.edited"] * 30)
    # two webhooks a process at once, five deliveries a lease: the webhooks change hands all the time
    # leases long enough that a process starved of CPU on a loaded machine does not lose one mid-send
    first, second = start("one", parallel=2, batch=5, lease_sec=60), start("two", parallel=2, batch=5, lease_sec=60)
    wait_for(lambda: all(len(set(_seqs(receiver, n))) == len(seqs) for n in names), timeout=120)
    assert receiver.overlaps == 0
    for name in names:
        assert _seqs(receiver, name) == seqs  # in order, and each once (no process died)
    # every lease is given back once the work is done
    wait_for(lambda: {d["lease_holder"] for d in db["webhooks"].find({}, {"lease_holder": 1})} == {None})
    assert first.poll() is None and second.poll() is None


@pytest.mark.parametrize("checkpoint_every", [1, 100])
def test_a_process_killed_mid_delivery_loses_nothing(admin, db, receiver, start, checkpoint_every):
    """With the cursor written after every delivery only the one in flight comes again; written less
    often, the deliveries since the last write come again first, once, in order."""
    receiver.delay = 0.3
    admin.ok("webhooks.create", {"url": receiver.url("k"), "kinds": ["model.*"], "secret": "x" * 16}, version=X)
    seqs = add_entries(db, admin.identity["company"], ["model.edited"] * 12)
    doomed = start("doomed", checkpoint_every=checkpoint_every, checkpoint_sec=60)
    wait_for(lambda: len(_seqs(receiver, "k")) >= 3 and receiver.in_flight.get("k"), timeout=60, step=0.01)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    add_entries(db, admin.identity["company"], ["model.published"] * 3)
    start("heir", checkpoint_every=checkpoint_every, checkpoint_sec=60)
    seqs = seqs + list(range(seqs[-1] + 1, seqs[-1] + 4))
    wait_for(lambda: set(_seqs(receiver, "k")) == set(seqs), timeout=120)
    got = _seqs(receiver, "k")
    if checkpoint_every == 1:
        assert got == sorted(got)  # in order; the one in flight at the kill may come twice, nothing is skipped
        assert len(got) <= len(seqs) + 1
    else:  # one step back at most, to the last cursor written; each run in order
        drops = [i for i in range(1, len(got)) if got[i] < got[i - 1]]
        assert len(drops) <= 1
        runs = [got[:drops[0]], got[drops[0]:]] if drops else [got]
        assert all(run == sorted(run) and len(set(run)) == len(run) for run in runs)
        assert runs[-1][-1] == seqs[-1]
