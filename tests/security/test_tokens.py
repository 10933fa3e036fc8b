"""Revocation is final: a token dies with the key pair it came from (or its user), a token cannot renew
its session past the configured maximum, and only Basic auth or a fresh sign-in makes key pairs."""

from __future__ import annotations

import time

import jwt
import pytest

from database.collections import users_db
from server.http.app import build_state, create_app
from services.call import Identity
from services.identity.tokens import mint
from tests.helpers import COMPANY_A, ApiClient, basic, codes, make_user

MAX_SESSION = 1000
FRESH = 300


@pytest.fixture
def short_app(app_config, registry, db):
    """The app with a short session maximum and fresh-sign-in window."""
    app_config.put("auth.max_session_sec", MAX_SESSION)
    app_config.put("auth.fresh_login_sec", FRESH)
    application = create_app(app_config, build_state(app_config, registry))
    yield application
    application.modelreg_state.stores.db.client.close()


def _bearer(app, token: str) -> ApiClient:
    return ApiClient(app, f"Bearer {token}")


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _token(app, user: ApiClient, auth_time: int, lifetime: int = 3600) -> str:
    """A well-signed token of `user`'s key pair whose session began at `auth_time`."""
    identity = Identity(user.identity["user"], user.identity["company"], "admin", "alice", "A")
    return mint(app.modelreg_state.stores.token_secret, identity, lifetime, {}, credential=user.identity["key"],
                auth_time=auth_time)


def test_tokens_name_their_key_pair_and_session_start(client):
    claims = _claims(client.ok("auth.login")["token"])
    assert claims["cred"] == client.identity["key"]
    assert abs(claims["auth_time"] - claims["iat"]) <= 1


def test_revoking_a_key_pair_ends_its_tokens_at_once(app, client):
    """A token minted before auth.revoke_credentials kept working, could mint a
    fresh token with auth.login and could make a new working key pair with auth.create_credentials."""
    made = client.ok("auth.create_credentials", {"label": "ci"}, version="2.1")["credentials"]
    pair = ApiClient(app, basic(made["access_key"], made["secret_key"]))
    token = pair.ok("auth.login")["token"]
    bearer = _bearer(app, token)
    assert bearer.ok("server.info", version="2.12")
    assert client.ok("auth.revoke_credentials", {"access_key": made["access_key"]}, version="2.1") == {"revoked": 1}

    meta = bearer.error("server.info", version="2.12")
    assert codes(meta) == (401, 30) and "revoked" in meta["result_msg"]
    assert codes(bearer.error("auth.login")) == (401, 30)
    assert codes(bearer.error("auth.create_credentials", version="2.1")) == (401, 30)
    cookie = ApiClient(app).test_client.simulate_post("/v2.12/server.info", cookies={"clearml_token_basic": token})
    assert cookie.status_code == 401
    assert codes(pair.error("server.info")) == (401, 22)
    # the caller's other key pair and its tokens are untouched
    assert _bearer(app, client.ok("auth.login")["token"]).ok("server.info", version="2.12")


def test_deleting_a_user_ends_every_token_of_every_key_pair(app, client):
    made = client.ok("auth.create_user", {"name": "temp"}, version="2.1")
    temp = ApiClient(app, basic(made["credentials"]["access_key"], made["credentials"]["secret_key"]))
    second = temp.ok("auth.create_credentials", version="2.1")["credentials"]
    tokens = [temp.ok("auth.login")["token"],
              ApiClient(app, basic(second["access_key"], second["secret_key"])).ok("auth.login")["token"]]
    assert all(_bearer(app, t).ok("server.info", version="2.12") for t in tokens)
    assert client.ok("auth.delete_user", {"user": made["id"]}, version="2.1") == {"deleted": 1}
    for token in tokens:
        assert codes(_bearer(app, token).error("server.info")) == (401, 30)
    assert codes(temp.error("server.info")) == (401, 22)


def test_a_token_of_a_revoked_pair_cannot_be_reused_by_another_user(app, client, other_client):
    """The key pair must still belong to the token's user, not merely exist."""
    identity = Identity(other_client.identity["user"], other_client.identity["company"], "user")
    forged_owner = mint(app.modelreg_state.stores.token_secret, identity, 60, {}, credential=client.identity["key"])
    assert codes(_bearer(app, forged_owner).error("server.info")) == (401, 30)


def test_tokens_without_a_key_pair_are_refused(app, client):
    secret = app.modelreg_state.stores.token_secret
    legacy = jwt.encode({"identity": {"user": client.identity["user"], "company": COMPANY_A, "role": "admin"},
                         "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    meta = _bearer(app, legacy).error("server.info")
    assert codes(meta) == (401, 30) and "sign in again" in meta["result_msg"]


def test_a_role_changed_on_the_database_applies_to_existing_tokens_within_one_lease(app):
    """As when another host changes it: this process lets go of what it remembered once its lease ends."""
    user = make_user(app, "demoted", COMPANY_A, role="user")
    bearer = _bearer(app, user.ok("auth.login")["token"])
    assert bearer.ok("projects.create", {"name": "before"}, version="2.13")
    users_db.set_role(app.modelreg_state.stores.db, user.identity["user"], "guest")
    time.sleep(app.modelreg_state.stores.credential_lease.lease_sec)
    assert codes(bearer.error("projects.create", {"name": "after"}, version="2.13")) == (403, 20)
    assert bearer.ok("projects.get_all", version="2.13")


def test_login_with_a_token_cannot_extend_the_session(short_app):
    user = make_user(short_app, "alice", COMPANY_A, role="admin")
    first = user.ok("auth.login", {"expiration_sec": 600})["token"]
    start = _claims(first)["auth_time"]
    renewed = _bearer(short_app, first).ok("auth.login", {"expiration_sec": 30 * 86400})["token"]
    claims = _claims(renewed)
    assert claims["auth_time"] == start and claims["cred"] == user.identity["key"]
    assert claims["exp"] <= start + MAX_SESSION
    again = _claims(_bearer(short_app, renewed).ok("auth.login", {"expiration_sec": 30 * 86400})["token"])
    assert again["exp"] <= start + MAX_SESSION and again["auth_time"] == start
    # a session at its end cannot be renewed at all, even with a token that has not expired yet
    old = _token(short_app, user, auth_time=int(time.time()) - MAX_SESSION - 5)
    assert codes(_bearer(short_app, old).error("auth.login")) == (401, 30)
    # Basic auth starts a new session, capped by the same maximum
    fresh = _claims(user.ok("auth.login", {"expiration_sec": 30 * 86400})["token"])
    assert fresh["auth_time"] >= start and fresh["exp"] <= fresh["auth_time"] + MAX_SESSION


def test_key_pairs_need_basic_auth_or_a_fresh_sign_in(short_app):
    user = make_user(short_app, "alice", COMPANY_A, role="admin")
    assert user.ok("auth.create_credentials", version="2.1")["credentials"]["secret_key"]
    fresh = user.ok("auth.login")["token"]
    assert _bearer(short_app, fresh).ok("auth.create_credentials", version="2.1")["credentials"]
    stale = _token(short_app, user, auth_time=int(time.time()) - FRESH - 5)
    assert _bearer(short_app, stale).ok("server.info", version="2.12")  # still a valid token for the rest
    meta = _bearer(short_app, stale).error("auth.create_credentials", version="2.1")
    assert codes(meta) == (403, 0) and "fresh sign-in" in meta["result_msg"].lower()
    # renewing a stale token does not make it fresh: the session start is kept
    renewed = _bearer(short_app, stale).ok("auth.login")["token"]
    assert codes(_bearer(short_app, renewed).error("auth.create_credentials", version="2.1")) == (403, 0)
    assert len(user.ok("auth.get_credentials", version="2.1")["credentials"]) == 3


def test_a_token_checked_before_stops_working_when_it_expires(short_app):
    """Workers remember tokens whose signature they checked; the expiry is still checked on every call."""
    user = make_user(short_app, "erin", COMPANY_A)
    token = user.ok("auth.login", {"expiration_sec": 2})["token"]
    caller = _bearer(short_app, token)
    assert caller.ok("debug.ping", {}) is not None and caller.ok("server.info", {})
    time.sleep(2.5)
    assert codes(caller.error("server.info", {})) == (401, 30)
