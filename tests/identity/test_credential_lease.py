"""Verified key pairs are remembered per process under a lease on the shared auth epoch
(services/identity/lease.py): calls within the lease skip the credential lookup, and every change that
narrows a key pair reaches every process before the call that made it answers."""

from __future__ import annotations

import time

import pytest

from database.collections import users_db
from tests.helpers import COMPANY_A, ApiClient, app_with, basic, codes, make_user
from tests.security.test_throttle import PER_KEY, _login
from tests.security.test_throttle import throttled_app as throttled_app  # noqa: F401 - a fixture


def _forget_behind_its_back(app, key: str) -> None:
    """Deletes a key pair without telling anyone (no epoch change): only a cache would still accept it."""
    app.modelreg_state.stores.db[users_db.CREDENTIALS].delete_one({"_id": key})


def test_within_the_lease_a_verified_pair_is_not_looked_up_again(app):
    user = make_user(app, "alice", COMPANY_A, role="admin")
    token = user.ok("auth.login")["token"]
    bearer = ApiClient(app, f"Bearer {token}")
    assert bearer.ok("server.info") and user.ok("server.info")
    _forget_behind_its_back(app, user.identity["key"])
    # both remembered: no lookup saw the deletion
    assert bearer.ok("server.info") and user.ok("server.info")
    # an epoch change (what every narrowing change makes) reaches this process within one lease
    users_db.bump_auth_epoch(app.modelreg_state.stores.db)
    time.sleep(app.modelreg_state.stores.credential_lease.lease_sec)
    assert codes(bearer.error("server.info")) == (401, 30)
    assert codes(user.error("server.info")) == (401, 22)


def test_a_wrong_secret_is_never_taken_for_a_remembered_one(app):
    user = make_user(app, "alice", COMPANY_A, role="admin")
    assert user.ok("server.info")
    wrong = ApiClient(app, basic(user.identity["key"], user.identity["secret"] + "x"))
    assert codes(wrong.error("server.info")) == (401, 22)


def test_revoking_answers_after_one_lease_and_the_pair_is_refused_at_once(app):
    user = make_user(app, "alice", COMPANY_A, role="admin")
    extra = user.ok("auth.create_credentials", version="2.1")["credentials"]
    other = ApiClient(app, basic(extra["access_key"], extra["secret_key"]))
    token = other.ok("auth.login")["token"]
    assert other.ok("server.info") and ApiClient(app, f"Bearer {token}").ok("server.info")
    began = time.monotonic()
    assert user.ok("auth.revoke_credentials", {"access_key": extra["access_key"]}, version="2.1") == {"revoked": 1}
    assert time.monotonic() - began >= app.modelreg_state.stores.credential_lease.lease_sec
    assert codes(other.error("server.info")) == (401, 22)
    assert codes(ApiClient(app, f"Bearer {token}").error("server.info")) == (401, 30)


def test_a_lockout_ends_a_remembered_correct_secret_too(throttled_app):  # noqa: F811
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    key, secret = user.identity["key"], user.identity["secret"]
    assert _login(user, key, secret).status_code == 200  # verified, so remembered
    for _ in range(PER_KEY):
        assert _login(user, key, "wrong").status_code == 401
    # here at once; on other hosts within one lease (the lockout changed the epoch)
    assert _login(user, key, secret).status_code == 429


@pytest.fixture
def uncached_app(app_config, registry, db):
    with app_with(app_config, registry, {"auth.credential_lease_ms": 0}) as application:
        yield application


def test_with_no_lease_every_call_looks_the_pair_up(uncached_app):
    user = make_user(uncached_app, "alice", COMPANY_A, role="admin")
    assert user.ok("server.info")
    _forget_behind_its_back(uncached_app, user.identity["key"])
    assert codes(user.error("server.info")) == (401, 22)


RECHECK = 0.6


@pytest.fixture
def rechecking_app(app_config, registry, db):
    with app_with(app_config, registry, {"auth.credential_recheck_sec": RECHECK}) as application:
        yield application


def _refused_after(client: ApiClient, began: float, code: int) -> float:
    """Calls until the call fails with `code`; how long after `began` that was. Every call before it
    was answered from what the process remembered (a lookup would have seen the change)."""
    while True:
        meta = client.call("server.info").json["meta"]
        if meta["result_code"] == code:
            return time.monotonic() - began
        assert meta["result_code"] == 200 and time.monotonic() - began < RECHECK + 2, meta


def test_a_key_pair_deleted_directly_in_the_database_stops_working_within_the_recheck(rechecking_app):
    user = make_user(rechecking_app, "alice", COMPANY_A, role="admin")
    bearer = ApiClient(rechecking_app, f"Bearer {user.ok('auth.login')['token']}")
    began = time.monotonic()
    assert bearer.ok("server.info") and user.ok("server.info")  # both looked up now, then remembered
    _forget_behind_its_back(rechecking_app, user.identity["key"])
    # at most one lookup per key pair per interval: until it ends, the deletion is not seen...
    lease_sec = rechecking_app.modelreg_state.stores.credential_lease.lease_sec
    assert RECHECK - 0.05 <= _refused_after(user, began, 401) <= RECHECK + lease_sec + 0.5
    # ...and once it has, it is (the token's lookup is rechecked the same way)
    assert RECHECK - 0.05 <= _refused_after(bearer, began, 401) <= RECHECK + lease_sec + 0.5
    assert codes(bearer.error("server.info")) == (401, 30)


def test_a_role_changed_directly_in_the_database_applies_within_the_recheck(rechecking_app):
    user = make_user(rechecking_app, "alice", COMPANY_A, role="admin")
    bearer = ApiClient(rechecking_app, f"Bearer {user.ok('auth.login')['token']}")
    assert user.ok("projects.create", {"name": "before"}) and bearer.ok("projects.create", {"name": "before2"})
    db = rechecking_app.modelreg_state.stores.db
    # what an operator would run by hand: the role is kept with the user and with each of its key pairs
    db[users_db.USERS].update_one({"_id": user.identity["user"]}, {"$set": {"role": "guest"}})
    db[users_db.CREDENTIALS].update_many({"user": user.identity["user"]}, {"$set": {"role": "guest"}})
    time.sleep(RECHECK)
    assert codes(user.error("projects.create", {"name": "after"})) == (403, 20)
    assert codes(bearer.error("projects.create", {"name": "after2"})) == (403, 20)


def test_the_documented_counter_increment_makes_a_direct_change_apply_within_one_lease(app):
    user = make_user(app, "alice", COMPANY_A, role="admin")
    assert user.ok("server.info")
    _forget_behind_its_back(app, user.identity["key"])
    assert user.ok("server.info")  # remembered (the default recheck is seconds away)
    # docs/security.md: db.generations.updateOne({_id: "credentials"}, {$inc: {n: 1}}, {upsert: true})
    app.modelreg_state.stores.db["generations"].update_one({"_id": "credentials"}, {"$inc": {"n": 1}}, upsert=True)
    time.sleep(app.modelreg_state.stores.credential_lease.lease_sec)
    assert codes(user.error("server.info")) == (401, 22)
