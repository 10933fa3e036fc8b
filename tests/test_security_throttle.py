"""Login throttling: wrong secrets per access key and per client address are counted in MongoDB and, at
the limit, answered 429 with Retry-After until the window ends; then the right secret works again."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from database import throttle_db
from server.app import build_state, create_app
from tests.fixtures_app import COMPANY_A, make_user
from tests.helpers import basic

PER_KEY = 3
PER_ADDRESS = 6
WINDOW = 300


def _app(app_config, registry, **throttle):
    settings = {"window_sec": WINDOW, "max_failures_per_key": PER_KEY, "max_failures_per_address": PER_ADDRESS,
                "slow_after": 100, **throttle}
    for key, value in settings.items():
        app_config.put(f"auth.throttle.{key}", value)
    return create_app(app_config, build_state(app_config, registry))


@pytest.fixture
def throttled_app(app_config, registry, db):
    application = _app(app_config, registry)
    yield application
    application.modelreg_state.stores.db.client.close()


def _login(client, key: str, secret: str, address: str = "10.0.0.1", forwarded: str | None = None):
    headers = {"Authorization": basic(key, secret)}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return client.test_client.simulate_post("/auth.login", headers=headers, remote_addr=address)


def _end_windows(app) -> None:
    """Moves every counter's window into the past, as time passing would (the TTL index then removes it)."""
    db = app.modelreg_state.stores.db
    db[throttle_db.FAILURES].update_many({}, {"$set": {"reset": datetime.now(timezone.utc) - timedelta(seconds=1)}})


def test_wrong_secrets_for_one_key_end_in_429_then_the_window_ends(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    key, secret = user.identity["key"], user.identity["secret"]
    for _ in range(PER_KEY):
        assert _login(user, key, "wrong").status_code == 401
    refused = _login(user, key, "wrong")
    assert refused.status_code == 429
    meta = refused.json["meta"]
    assert (meta["result_code"], meta["endpoint"]["name"]) == (429, "auth.login")
    assert "Too many failed sign-ins" in meta["result_msg"]
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW
    # during the window the right secret is refused too (it would confirm a guess), from anywhere
    assert _login(user, key, secret, address="10.9.9.9").status_code == 429
    assert user.ok("debug.ping") is not None  # unauthenticated endpoints are not affected
    _end_windows(throttled_app)
    assert _login(user, key, secret).status_code == 200
    assert _login(user, key, "wrong").status_code == 401  # a new window starts from one failure


def test_wrong_secrets_from_one_address_end_in_429_for_every_key(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    for number in range(PER_ADDRESS):
        assert _login(user, f"GUESS{number}", "x", address="10.0.0.7").status_code == 401
    assert _login(user, "GUESS-MORE", "x", address="10.0.0.7").status_code == 429
    assert _login(user, user.identity["key"], user.identity["secret"], address="10.0.0.7").status_code == 429
    assert _login(user, user.identity["key"], user.identity["secret"], address="10.0.0.8").status_code == 200


def test_counters_live_in_mongodb_with_a_ttl_index(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    _login(user, user.identity["key"], "wrong", address="10.0.0.3")
    db = throttled_app.modelreg_state.stores.db
    counters = {doc["_id"]: doc["count"] for doc in db[throttle_db.FAILURES].find()}
    assert counters == {f"key:{user.identity['key']}": 1, "addr:10.0.0.3": 1}
    ttl = [ix for ix in db[throttle_db.FAILURES].list_indexes() if "expireAfterSeconds" in ix]
    assert [(dict(ix["key"]), ix["expireAfterSeconds"]) for ix in ttl] == [({"reset": 1}, 0)]


def test_forwarded_for_counts_only_when_trusted(app_config, registry, db):
    app = _app(app_config, registry)
    user = make_user(app, "alice", COMPANY_A, role="admin")
    # not trusted: a client cannot dodge the per-address count by inventing X-Forwarded-For values
    for number in range(PER_ADDRESS):
        _login(user, f"GUESS{number}", "x", address="10.0.0.5", forwarded=f"1.2.3.{number}")
    assert _login(user, "GUESS", "x", address="10.0.0.5", forwarded="9.9.9.9").status_code == 429
    app.modelreg_state.stores.db.client.close()

    app_config.put("auth.throttle.trust_forwarded_for", True)
    trusting = _app(app_config, registry)
    user = make_user(trusting, "carol", COMPANY_A)
    # behind a proxy (one peer address): the hop the proxy appended is the client
    for number in range(PER_ADDRESS):
        _login(user, f"OTHER{number}", "x", address="10.0.0.6", forwarded=f"6.6.6.6, 10.1.1.{number % 2}")
    assert _login(user, user.identity["key"], user.identity["secret"], address="10.0.0.6",
                  forwarded="10.1.1.2").status_code == 200
    under = _login(user, user.identity["key"], user.identity["secret"], address="10.0.0.6", forwarded="10.1.1.0")
    assert under.status_code == 200  # 3 failures for 10.1.1.0: under the per-address limit
    for number in range(PER_ADDRESS):
        _login(user, f"MORE{number}", "x", address="10.0.0.6", forwarded="10.1.1.0")
    assert _login(user, user.identity["key"], user.identity["secret"], address="10.0.0.6",
                  forwarded="10.1.1.0").status_code == 429
    trusting.modelreg_state.stores.db.client.close()


def test_the_files_route_counts_failures_per_address_too(throttled_app):
    """Guessing through /files counts against the address as through the API, and the 429 says when to retry."""
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    for number in range(PER_ADDRESS):
        reply = user.test_client.simulate_get("/files/some/file.bin", remote_addr="10.0.0.9",
                                              headers={"Authorization": basic(f"FILES{number}", "x")})
        assert reply.status_code == 401
    refused = user.test_client.simulate_get("/files/some/file.bin", remote_addr="10.0.0.9",
                                            headers={"Authorization": basic("FILES-MORE", "x")})
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= WINDOW
    assert _login(user, user.identity["key"], user.identity["secret"], address="10.0.0.9").status_code == 429
