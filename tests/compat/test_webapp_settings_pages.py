"""The ClearML web app's saved view settings, first sign-in, Workspace page, project filters and the
orchestration pages, replayed through the full dispatcher at /v999.0. Each test names the ClearML source
the behaviour was read from (clearml/clearml-server)."""

from __future__ import annotations

import time

from services.call import Identity
from services.identity.tokens import mint
from tests.helpers import ApiClient, codes

V = "999.0"


def test_view_settings_with_dotted_keys_are_kept_as_sent(client, other_client):
    """apiserver/services/users.py set_preferences / get_preferences: keys are stored escaped and read
    back unescaped, so the web app's `hiddenProjectTableCols.<project id>` and the like survive."""
    project = "9f3c" * 8
    views = {"models": {"view": {f"hiddenProjectTableCols.{project}": {"framework": True},
                                 "tableSortFields": [{"field": "created", "order": -1}]}},
             "tasks": {"$weird": {"a.b.c": [{"x.y": 1}]}, "pageSize%2E": 15}}
    assert client.ok("users.set_preferences", {"preferences": views, "return_updated": False},
                     version=V) == {"updated": 1, "fields": {}}
    assert client.ok("users.get_preferences", {}, version=V)["preferences"] == views
    # a second top-level key leaves the first alone; the same body again changes nothing
    client.ok("users.set_preferences", {"preferences": {"views": {"theme": "dark"}}}, version=V)
    assert client.ok("users.get_preferences", {}, version=V)["preferences"] == {**views, "views": {"theme": "dark"}}
    assert client.ok("users.set_preferences", {"preferences": views}, version=V)["updated"] == 0
    assert other_client.ok("users.get_preferences", {}, version=V) == {"preferences": {}}


def test_current_user_has_getting_started(client):
    """apiserver/services/users.py get_current_user: the reply carries `getting_started` (the web app's
    first sign-in dialog reads it)."""
    reply = client.ok("users.get_current_user", {"get_supported_features": True}, version=V)
    assert reply["getting_started"] == {} and reply["user"]["id"] == client.identity["user"]


def _stale_token(app, user: ApiClient, browser: bool) -> str:
    """A token of `user`'s key pair whose sign-in was 20 minutes ago (past auth.fresh_login_sec); with
    `browser`, the one auth.login sets as the browser's cookie, else the one its reply body carries."""
    identity = Identity(user.identity["user"], user.identity["company"], "admin", "alice", "A")
    return mint(app.modelreg_state.stores.token_secret, identity, 3600, {"browser": True} if browser else {},
                credential=user.identity["key"], auth_time=int(time.time()) - 1200)


def test_workspace_page_makes_key_pairs_long_after_sign_in(app, client):
    """apiserver/services/auth.py create_credentials. The web app's own session cookie (HttpOnly) may make
    key pairs for the whole session; any other token, in an Authorization header or copied into a cookie
    by hand, still needs a recent sign-in, so a token out of a header, a log or a reply body cannot
    become a lasting key pair."""
    token = _stale_token(app, client, browser=True)
    browser = ApiClient(app)
    made = browser.test_client.simulate_post(f"/api/v{V}/auth.create_credentials", json={"label": "laptop"},
                                             cookies={"clearml_token_basic": token})
    assert made.status_code == 200, made.text
    assert made.json["data"]["credentials"]["secret_key"]
    meta = ApiClient(app, f"Bearer {token}").error("auth.create_credentials", {}, version=V)
    assert codes(meta) == (403, 0) and "fresh sign-in" in meta["result_msg"].lower()
    body_token = _stale_token(app, client, browser=False)
    refused = browser.test_client.simulate_post(f"/api/v{V}/auth.create_credentials", json={},
                                                cookies={"clearml_token_basic": body_token})
    assert (refused.status_code, refused.json["meta"]["result_subcode"]) == (403, 0), refused.text


def test_projects_filters_and_empty_pages(client):
    """apiserver/services/projects.py get_all_ex (search_hidden: null is accepted as not set);
    apiserver/services/reports.py get_tags, storage.get_settings, workers.get_all,
    workers.get_activity_report, queues.get_all_ex, queues.get_queue_metrics, serving.get_endpoints:
    ClearML's reply shapes, empty, so the pages show "nothing here" instead of a failure."""
    project = client.ok("projects.create", {"name": "vision"}, version="2.23")["id"]
    listed = client.ok("projects.get_all_ex", {"search_hidden": None, "only_fields": ["name"]}, version=V)
    assert project in {p["id"] for p in listed["projects"]}
    assert client.ok("reports.get_tags", {}, version=V) == {"tags": [], "system_tags": []}
    assert client.ok("storage.get_settings", {}, version=V) == {"settings": {}}
    assert client.ok("workers.get_all", {"last_seen": 3600}, version=V) == {"workers": []}
    assert client.ok("workers.get_activity_report", {"from_date": 1, "to_date": 2, "interval": 60},
                     version=V) == {"total": [], "active": []}
    assert client.ok("queues.get_all_ex", {"scroll_id": None}, version=V) == {"queues": [], "scroll_id": None}
    assert client.ok("queues.get_queue_metrics", {"from_date": 1, "to_date": 2, "interval": 60},
                     version=V) == {"queues": []}
    assert client.ok("serving.get_endpoints", {}, version=V) == {"endpoints": []}
