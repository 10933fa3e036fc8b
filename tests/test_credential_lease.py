"""Verified key pairs are remembered per process under a lease on the shared auth epoch
(services/credential_lease.py): calls within the lease skip the credential lookup, and every change that
narrows a key pair reaches every process before the call that made it answers."""

from __future__ import annotations

import time

import pytest

from database import users_db
from tests.fixtures_app import COMPANY_A, app_with, make_user
from tests.helpers import ApiClient, basic, codes
from tests.test_security_throttle import PER_KEY, _login
from tests.test_security_throttle import throttled_app as throttled_app  # noqa: F401 - a fixture


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
