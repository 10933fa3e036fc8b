"""Changes signed by the web session cookie alone: refused in every shape another site's page can make a
browser send (a link, a form, a simple fetch) and when the browser says the request comes from another
site; the web app's and the registry pages' shape (a POST of JSON from this site) and every call with an
Authorization header pass, and reads by cookie stay open to links."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from tests.helpers import ApiClient, basic, codes

V = "2.99"
FORMS = {  # what another site's page can send without a CORS preflight, with the cookie riding along
    "link": ("GET", None, None),
    "form": ("POST", "application/x-www-form-urlencoded", "name=forged&uri=s3%3A%2F%2Fb%2Fx"),
    "plain text": ("POST", "text/plain", '{"name": "forged", "uri": "s3://b/x"}'),
    "multipart form": ("POST", "multipart/form-data; boundary=b",
                       '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nforged\r\n--b--\r\n'),
    "no body type": ("POST", None, '{"name": "forged", "uri": "s3://b/x"}'),
}


def _signed_in_browser(app, user: ApiClient) -> dict:
    """The web app's sign-in: auth.login with the key pair; afterwards only the cookie it set is sent."""
    reply = ApiClient(app).raw(f"/api/v{V}/auth.login", "null", headers={
        "Authorization": basic(user.identity["key"], user.identity["secret"]), "Content-Type": "application/json"})
    jar = SimpleCookie()
    jar.load(reply.headers["set-cookie"])
    return {"Cookie": f"clearml_token_basic={jar['clearml_token_basic'].value}"}


def _forged_models(alice: ApiClient) -> list:
    return alice.ok("models.get_all", {"name": "^forged$"}, version=V)["models"]


@pytest.mark.parametrize("shape", FORMS)
def test_a_change_in_a_shape_another_site_can_send_is_refused(files_app, alice, shape):
    method, body_type, body = FORMS[shape]
    headers = _signed_in_browser(files_app, alice)
    if body_type:
        headers["Content-Type"] = body_type
    reply = ApiClient(files_app).raw(f"/api/v{V}/models.create", body.encode() if body else None, method=method,
                                     headers=headers, query_string="name=forged&uri=s3://b/x")
    assert codes(reply.json["meta"]) == (403, 22), reply.text
    assert "JSON" in reply.json["meta"]["result_msg"]
    assert _forged_models(alice) == []


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_json_change_the_browser_says_comes_from_another_site_is_refused(files_app, alice, site):
    headers = {**_signed_in_browser(files_app, alice), "Sec-Fetch-Site": site}
    meta = ApiClient(files_app).error("models.create", {"name": "forged", "uri": "s3://b/x"}, version=V,
                                      headers=headers)
    assert codes(meta) == (403, 22) and site in meta["result_msg"]
    assert _forged_models(alice) == []


@pytest.mark.parametrize("site", [None, "same-origin", "none"])
def test_the_web_apps_own_json_calls_pass(files_app, alice, site):
    headers = _signed_in_browser(files_app, alice)
    if site:
        headers["Sec-Fetch-Site"] = site
    browser = ApiClient(files_app)
    made = browser.ok("models.create", {"name": f"by-browser-{site}", "uri": "s3://b/x"}, version=V, headers=headers)
    edited = browser.ok("models.edit", {"model": made["id"], "comment": "ok"}, version=V, headers=headers)
    assert edited["updated"] == 1


def test_reads_by_cookie_and_changes_with_an_authorization_header_keep_every_shape(files_app, alice):
    headers = {**_signed_in_browser(files_app, alice), "Sec-Fetch-Site": "cross-site"}
    alice.ok("models.create", {"name": "listed", "uri": "s3://b/x"}, version=V)
    listed = ApiClient(files_app).raw(f"/api/v{V}/models.get_all", method="GET", headers=headers,
                                      query_string="name=%5Elisted%24")  # a link to a listing, followed
    assert listed.status_code == 200 and [m["name"] for m in listed.json["data"]["models"]] == ["listed"]
    by_key = alice.raw(f"/api/v{V}/models.create", method="GET", query_string="name=scripted&uri=s3://b/x")
    assert by_key.status_code == 200, by_key.text  # a script's key pair is no browser's ambient credential


def test_files_uploads_and_deletes_by_cookie_come_only_from_this_site(files_app, alice):
    from tests.files.test_files_route import multipart, upload

    assert upload(alice, "/kept/w.bin", b"weights").status_code == 200
    cookie = _signed_in_browser(files_app, alice)
    browser = ApiClient(files_app)
    body, headers = multipart(("/forged/w.bin", b"forged"))
    refused = browser.raw("/files", body=body, headers={**headers, **cookie})
    assert codes(refused.json["meta"]) == (403, 22)
    assert alice.raw("/files/forged/w.bin", method="GET").status_code == 404
    assert browser.raw("/files/kept/w.bin", method="GET", headers=cookie).content == b"weights"
    cross = browser.raw("/files/kept/w.bin", method="DELETE", headers={**cookie, "Sec-Fetch-Site": "cross-site"})
    assert codes(cross.json["meta"]) == (403, 22)
    deleted = browser.raw("/files/kept/w.bin", method="DELETE", headers={**cookie, "Sec-Fetch-Site": "same-origin"})
    assert deleted.status_code == 200 and alice.raw("/files/kept/w.bin", method="GET").status_code == 404
