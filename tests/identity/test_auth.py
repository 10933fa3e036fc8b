"""Credentials, tokens and roles, through the dispatcher."""

from __future__ import annotations

import base64
import time

import jwt

from services.call import Identity
from services.identity.tokens import mint
from tests.helpers import ApiClient, basic, codes, make_user


def test_missing_credentials_is_401_20(anon):
    assert codes(anon.error("server.info")) == (401, 20)


def test_bad_base64_is_401_21(app):
    client = ApiClient(app, "Basic !!!not-base64!!!")
    assert codes(client.error("server.info")) == (401, 21)
    no_colon = ApiClient(app, "Basic " + base64.b64encode(b"nocolon").decode())
    assert codes(no_colon.error("server.info")) == (401, 21)


def test_unknown_key_or_wrong_secret_is_401_22(app, client):
    assert codes(ApiClient(app, basic("NOSUCHKEY", "x")).error("server.info")) == (401, 22)
    wrong = ApiClient(app, basic(client.identity["key"], "wrong-secret"))
    assert codes(wrong.error("server.info")) == (401, 22)


def test_other_schemes_are_401_10(app):
    assert codes(ApiClient(app, "Digest abc").error("server.info")) == (401, 10)


def test_forged_and_expired_tokens_are_401_30(app, client):
    forged = jwt.encode({"identity": {"user": "u", "company": "c", "role": "admin"}, "exp": time.time() + 60},
                        "not-the-secret-but-long-enough-for-hs256-keys", algorithm="HS256")
    meta = ApiClient(app, f"Bearer {forged}").error("server.info")
    assert codes(meta) == (401, 30) and "Invalid token" in meta["result_msg"]
    secret = app.modelreg_state.stores.token_secret
    expired = mint(secret, Identity("u", "c", "user"), -10, {})
    meta = ApiClient(app, f"Bearer {expired}").error("server.info")
    assert codes(meta) == (401, 30) and "expired" in meta["result_msg"]
    assert codes(ApiClient(app, "Bearer not.a.jwt").error("server.info")) == (401, 30)


def test_login_returns_a_jwt_the_sdk_can_read_and_bearer_works(app, client):
    result = client.call("auth.login", method="GET")
    token = result.json["data"]["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["api_version"] == "2.34" and claims["server_version"] and claims["feature_set"] == "basic"
    assert claims["identity"]["company"] == client.identity["company"]
    assert claims["exp"] - claims["iat"] == 2592000
    assert "clearml_token_basic" in result.cookies
    bearer = ApiClient(app, f"Bearer {token}")
    assert bearer.ok("server.info", version="2.12")["api_version"] == "2.34"


def test_login_is_reachable_unversioned_and_honours_expiration(client):
    data = client.ok("auth.login", {"expiration_sec": 60}, version="2.1")
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60
    assert codes(client.error("auth.login", {"expiration_sec": 10**9})) == (400, 12)


def test_the_token_cookie_authenticates_when_there_is_no_header(app, client):
    token = client.ok("auth.login")["token"]
    anon = ApiClient(app)
    result = anon.test_client.simulate_post("/v2.12/server.info", cookies={"clearml_token_basic": token})
    assert result.status_code == 200


def test_credentials_create_list_revoke(app, client):
    created = client.ok("auth.create_credentials", {"label": "ci"}, version="2.1")["credentials"]
    fresh = ApiClient(app, basic(created["access_key"], created["secret_key"]))
    assert fresh.ok("server.info", version="2.12")
    listed = client.ok("auth.get_credentials", version="2.1")["credentials"]
    assert created["access_key"] in [c["access_key"] for c in listed]
    assert all("secret_key" not in c for c in listed)
    assert client.ok("auth.revoke_credentials", {"access_key": created["access_key"]}, version="2.1") == {"revoked": 1}
    assert codes(fresh.error("server.info")) == (401, 22)


def test_secrets_are_stored_hashed(app, client):
    doc = app.modelreg_state.stores.db["credentials"].find_one({"_id": client.identity["key"]})
    assert client.identity["secret"] not in str(doc)


def test_only_admins_create_users_and_a_new_company_can_exist(app, client, other_client):
    meta = other_client.error("auth.create_user", {"name": "mallory"}, version="2.1")
    assert codes(meta) == (403, 20)
    # a new company is the server-level role's to create (tests/security/test_company_admins.py has the rest)
    root = make_user(app, "root", client.identity["company"], role="root")
    made = root.ok("auth.create_user", {"name": "carol", "company": "company_c", "company_name": "C"}, version="2.1")
    assert made["company"] == "company_c"
    carol = ApiClient(app, basic(made["credentials"]["access_key"], made["credentials"]["secret_key"]))
    token = carol.ok("auth.login")["token"]
    assert jwt.decode(token, options={"verify_signature": False})["identity"]["company"] == "company_c"


def test_debug_ping_needs_no_credentials(anon):
    assert anon.raw("/debug.ping", method="GET").json["data"]["msg"] == "ClearML server"
