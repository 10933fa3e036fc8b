"""Login throttling limits the guesser, not the guessed: wrong secrets are counted in MongoDB per (access
key, client address) pair, which locks that key from that address only until the window ends, and per
address, which past its limit refuses the address for a short, growing, capped backoff."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from database.collections import throttle_db
from server.http.app import build_state, create_app
from services.identity import throttle
from tests.helpers import COMPANY_A, basic, make_user

PER_KEY = 3
PER_ADDRESS = 6
WINDOW = 300
BACKOFF_FIRST_MS = 200
BACKOFF_MAX_MS = 600  # below the third doubling (800), so the cap shows


def _app(app_config, registry, **throttle_settings):
    settings = {"window_sec": WINDOW, "max_failures_per_key": PER_KEY, "max_failures_per_address": PER_ADDRESS,
                "backoff_first_ms": BACKOFF_FIRST_MS, "backoff_max_ms": BACKOFF_MAX_MS, **throttle_settings}
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


def _blocked_for(app, address: str) -> float:
    """How long the address's current backoff lasts from now, in seconds (0 when none)."""
    doc = app.modelreg_state.stores.db[throttle_db.FAILURES].find_one({"_id": throttle.address_id(address)})
    if not doc or "blocked_until" not in doc:
        return 0.0
    return max(0.0, (doc["blocked_until"] - datetime.now(timezone.utc)).total_seconds())


def test_wrong_secrets_for_one_key_lock_it_from_that_address_until_the_window_ends(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    key, secret = user.identity["key"], user.identity["secret"]
    for _ in range(PER_KEY):
        assert _login(user, key, "wrong").status_code == 401
    refused = _login(user, key, "wrong")
    assert refused.status_code == 429
    meta = refused.json["meta"]
    assert (meta["result_code"], meta["endpoint"]["name"]) == (429, "auth.login")
    assert "Too many failed sign-ins" in meta["result_msg"]
    assert BACKOFF_MAX_MS / 1000 < int(refused.headers["Retry-After"]) <= WINDOW  # the window, not a backoff
    # during the window the right secret is refused too from that address (it would confirm a guess)...
    assert _login(user, key, secret).status_code == 429
    # ...but its owner signing in from anywhere else is not locked out
    assert _login(user, key, secret, address="10.9.9.9").status_code == 200
    assert user.ok("debug.ping") is not None  # unauthenticated endpoints are not affected
    _end_windows(throttled_app)
    assert _login(user, key, secret).status_code == 200
    assert _login(user, key, "wrong").status_code == 401  # a new window starts from one failure


def test_wrong_secrets_from_one_address_refuse_it_briefly_for_every_key(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    key, secret = user.identity["key"], user.identity["secret"]
    for number in range(PER_ADDRESS):
        assert _login(user, f"GUESS{number}", "x", address="10.0.0.7").status_code == 401
    refused = _login(user, "GUESS-MORE", "x", address="10.0.0.7")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"  # a short backoff
    assert _login(user, key, secret, address="10.0.0.7").status_code == 429
    assert _login(user, key, secret, address="10.0.0.8").status_code == 200
    # the right user at the shared address gets through once the backoff has passed
    time.sleep(BACKOFF_FIRST_MS / 1000 + 0.05)
    assert _login(user, key, secret, address="10.0.0.7").status_code == 200


def test_the_address_backoff_grows_with_each_further_failure_up_to_its_cap(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    for number in range(PER_ADDRESS - 1):
        assert _login(user, f"GUESS{number}", "x", address="10.0.0.4").status_code == 401
    assert _blocked_for(throttled_app, "10.0.0.4") == 0
    blocks = []
    for number in range(3):
        assert _login(user, f"NEXT{number}", "x", address="10.0.0.4").status_code == 401
        blocks.append(_blocked_for(throttled_app, "10.0.0.4"))
        assert _login(user, f"EARLY{number}", "x", address="10.0.0.4").status_code == 429  # not counted
        time.sleep(blocks[-1] + 0.02)
    expected = [BACKOFF_FIRST_MS, 2 * BACKOFF_FIRST_MS, BACKOFF_MAX_MS]
    for block, ms in zip(blocks, expected, strict=True):
        assert ms / 1000 - 0.15 < block <= ms / 1000, (blocks, expected)


@pytest.fixture
def behind_proxy(app_config, registry, db):
    """The production limits (10 per key and address, 100 per address), addresses from X-Forwarded-For."""
    application = _app(app_config, registry, max_failures_per_key=10, max_failures_per_address=100,
                       trust_forwarded_for=True)
    yield application
    application.modelreg_state.stores.db.client.close()


def _via_proxy(client, key: str, secret: str, address: str):
    return _login(client, key, secret, address="10.0.0.2", forwarded=address)


def test_an_attacker_cannot_lock_out_users_at_other_addresses(behind_proxy):
    root = make_user(behind_proxy, "root", COMPANY_A, role="root")
    victim = make_user(behind_proxy, "victim", COMPANY_A, role="admin")
    neighbour = make_user(behind_proxy, "neighbour", COMPANY_A)
    attacker, elsewhere = "203.0.113.9", "198.51.100.4"
    began = time.monotonic()
    # more than the limit of wrong secrets for the victim's own key...
    answers = [_via_proxy(root, victim.identity["key"], "guess", attacker).status_code for _ in range(12)]
    assert answers == [401] * 10 + [429] * 2
    for number in range(11):  # ...then 11 unknown keys x 10 wrong secrets, all from the same address
        for _ in range(10):
            answers.append(_via_proxy(root, f"UNKNOWN{number}", "guess", attacker).status_code)
    # nothing sleeps: a refused or failed sign-in is answered at once and holds no worker
    assert time.monotonic() - began < 10, "failed sign-ins were slowed by sleeping"
    assert set(answers) <= {401, 429} and 429 in answers
    # users at any other address, the victim's key included, are not affected at all
    for client in (root, victim, neighbour):
        assert _via_proxy(client, client.identity["key"], client.identity["secret"], elsewhere).status_code == 200
    # at the attacker's (shared) address: the victim's key is locked from there until the window ends,
    locked = _via_proxy(victim, victim.identity["key"], victim.identity["secret"], attacker)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > BACKOFF_MAX_MS / 1000
    # while a neighbour behind the same address waits at most the short backoff, then gets through
    time.sleep(_blocked_for(behind_proxy, attacker) + 0.02)
    assert _via_proxy(root, "UNKNOWN-LAST", "guess", attacker).status_code == 401  # the attacker goes on
    slowed = _via_proxy(neighbour, neighbour.identity["key"], neighbour.identity["secret"], attacker)
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
    time.sleep(_blocked_for(behind_proxy, attacker) + 0.02)
    assert _via_proxy(neighbour, neighbour.identity["key"], neighbour.identity["secret"], attacker).status_code == 200


def test_counters_live_in_mongodb_with_a_ttl_index(throttled_app):
    user = make_user(throttled_app, "alice", COMPANY_A, role="admin")
    _login(user, user.identity["key"], "wrong", address="10.0.0.3")
    db = throttled_app.modelreg_state.stores.db
    counters = {doc["_id"]: doc["count"] for doc in db[throttle_db.FAILURES].find()}
    assert counters == {f"pair:8:10.0.0.3:{user.identity['key']}": 1, "addr:10.0.0.3": 1}
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
    # 10.1.1.0 is in its backoff: a user not yet verified from there waits
    dave = make_user(trusting, "dave", COMPANY_A)
    assert _login(dave, dave.identity["key"], dave.identity["secret"], address="10.0.0.6",
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
