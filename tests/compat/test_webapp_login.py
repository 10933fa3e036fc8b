"""Signing in as the ClearML web app does: login.supported_modes, auth.login with the key pair as
user name and password, then every call with the token cookie only; login.logout clears it."""

from __future__ import annotations

from http.cookies import SimpleCookie

import jwt

from tests.helpers import ApiClient, basic, codes

V = "999.0"  # the web app calls every endpoint at /api/v999.0/


def _cookie_of(result) -> SimpleCookie:
    jar = SimpleCookie()
    for value in result.headers.get("set-cookie", "").split("\n"):
        jar.load(value)
    return jar


def _web_login(app, key: str, secret: str) -> tuple[ApiClient, str]:
    """auth.login as the web app sends it (body null, Basic key:secret); a client that then sends only the cookie."""
    browser = ApiClient(app)
    result = browser.raw(f"/api/v{V}/auth.login", "null", headers={"Authorization": basic(key, secret),
                                                                    "Content-Type": "application/json"})
    assert result.status_code == 200, result.text
    token = _cookie_of(result)["clearml_token_basic"].value
    body_token = result.json["data"]["token"]
    # the cookie holds a token of its own, marked as the browser's; the body's (which scripts see) is not
    assert _claims(token)["browser"] is True and "browser" not in _claims(body_token)
    assert {k: v for k, v in _claims(token).items() if k not in ("browser", "session_id")} == \
        {k: v for k, v in _claims(body_token).items() if k != "session_id"}
    return browser, token


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _with_cookie(token: str) -> dict:
    return {"Cookie": f"clearml_token_basic={token}"}


def test_supported_modes_without_credentials_offers_basic_sign_in(anon):
    data = anon.ok("login.supported_modes", {}, version=V)
    assert data["authenticated"] is False
    assert data["basic"]["enabled"] is True and data["basic"]["guest"]["enabled"] is False
    assert data["sso"] == {} and data["sso_providers"] == []
    # a bad cookie or a bad key pair is not an error here: just not signed in
    assert anon.ok("login.supported_modes", {}, version=V, headers=_with_cookie("garbage"))["authenticated"] is False
    assert anon.ok("login.supported_modes", {}, version=V,
                   headers={"Authorization": basic("nokey", "nosecret")})["authenticated"] is False


def test_cookie_sign_in_then_current_user_and_logout(app, client):
    browser, token = _web_login(app, client.identity["key"], client.identity["secret"])
    cookie = _with_cookie(token)
    assert browser.ok("login.supported_modes", {}, version=V, headers=cookie)["authenticated"] is True
    user = browser.ok("users.get_current_user", {"get_supported_features": True}, version=V, headers=cookie)["user"]
    assert user["id"] == client.identity["user"] and user["name"] == "alice" and user["role"] == "admin"
    # the model table's first query, authenticated by the cookie alone
    assert browser.ok("models.get_all_ex", {"ready": None, "size": 30, "scroll_id": None}, version=V,
                      headers=cookie)["models"] == []

    result = browser.raw(f"/api/v{V}/login.logout", {}, headers=cookie)
    assert result.status_code == 200
    cleared = _cookie_of(result)["clearml_token_basic"]
    assert cleared.value == "" and cleared["expires"]  # expired in the past: the browser drops it


def test_wrong_secret_is_refused_and_leaves_no_cookie(app, client):
    browser = ApiClient(app)
    result = browser.raw(f"/api/v{V}/auth.login", "null",
                         headers={"Authorization": basic(client.identity["key"], "wrong"),
                                  "Content-Type": "application/json"})
    assert (result.status_code, result.json["meta"]["result_subcode"]) == (401, 22)
    assert "clearml_token_basic" not in result.headers.get("set-cookie", "")


def test_current_user_needs_credentials(anon):
    assert codes(anon.error("users.get_current_user", {"get_supported_features": True}, version=V)) == (401, 20)
    assert codes(anon.error("users.get_current_user", {}, version=V, headers=_with_cookie("garbage"))) == (401, 30)
