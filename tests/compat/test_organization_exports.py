"""A table's CSV export and project workloads, as the ClearML server serves them.

Read from clearml/clearml-server apiserver/services/organization.py: `prepare_download_for_get_all`
(keeps the get_all_ex request, checked by reading one row, and answers `prepare_id`),
`download_for_get_all` (an unknown prepare_id is 400 InvalidId "prepare ID not found"; a BOM, a header
row of the mapping names, every cell quoted, value mappings, references shown by id, `_sanitize_csv` for
cells a spreadsheet would run as formulas, the file name `clearml[-<project>]-<entity>s.csv`), and
`get_project_workloads` with apiserver/bll/project/project_usages.py `get_project_usages` (the reply's
`projects`/`users`/`queues`, each `{total, series}`).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from server.http.auth_headers import TOKEN_COOKIE
from tests.helpers import ApiClient, codes, make_user

V = "2.26"
COLUMNS = [{"field": "name", "name": "Name"}, {"field": "framework"},
           {"field": "ready", "name": "Published", "values": [{"key": True, "value": "yes"},
                                                              {"key": False, "value": "no"}]},
           {"field": "project", "name": "Project"}]


def _prepare(client, **request):
    body = {"entity_type": "model", "only_fields": ["name", "framework", "ready", "project"],
            "field_mappings": COLUMNS, **request}
    return client.ok("organization.prepare_download_for_get_all", body, version=V)["prepare_id"]


def _download(client, prepare_id):
    """As the web app opens it: a GET with the id in the query string."""
    return client.raw(f"/v{V}/organization.download_for_get_all", method="GET", query_string=f"prepare_id={prepare_id}")


def _rows(reply) -> list[list[str]]:
    text = reply.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_models_export_as_csv_with_mappings_and_formulas_neutralised(client):
    project = client.ok("projects.create", {"name": "exports", "description": ""})["id"]
    for name, framework in (("plain", "torch"), ("=HYPERLINK(\"http://x\")", "+cmd"), ("@sum", "-1")):
        client.ok("models.create", {"name": name, "uri": "s3://b/k", "framework": framework, "project": project,
                                    "ready": name != "plain"})
    prepare_id = _prepare(client, project=[project], order_by=["name"])
    reply = _download(client, prepare_id)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.headers["Content-Disposition"] == 'attachment; filename="clearml-exports-models.csv"'
    rows = _rows(reply)
    assert rows[0] == ["Name", "framework", "Published", "Project"]
    assert sorted(rows[1:]) == sorted([
        ["'=HYPERLINK(\"http://x\")", "'+cmd", "yes", project],
        ["'@sum", "'-1", "yes", project],
        ["plain", "torch", "no", project],
    ])
    assert b'"plain","torch"' in reply.content  # every cell quoted


def test_the_export_has_the_listings_filters_and_its_row_cap(app, client):
    for i in range(5):
        client.ok("models.create", {"name": f"capped {i}", "uri": "s3://b/k", "tags": ["cap"]})
    client.ok("models.create", {"name": "untagged", "uri": "s3://b/k"})
    app.modelreg_state.stores.config.put("exports.max_rows", 3)
    app.modelreg_state.stores.config.put("exports.page_size", 2)
    try:
        rows = _rows(_download(client, _prepare(client, tags=["cap"], order_by=["name"])))
    finally:
        app.modelreg_state.stores.config.put("exports.max_rows", 1000)
        app.modelreg_state.stores.config.put("exports.page_size", 500)
    assert [r[0] for r in rows[1:]] == ["capped 0", "capped 1", "capped 2"]  # 3 rows over 2 pages, in order


def test_tasks_export_and_a_bad_request_fails_at_prepare(client):
    client.ok("tasks.create", {"name": "exported task", "type": "training"})
    body = {"entity_type": "task", "only_fields": ["name", "status"],
            "field_mappings": [{"field": "name"},
                               {"field": "status", "values": [{"key": "created", "value": "Draft"}]}]}
    prepared = client.ok("organization.prepare_download_for_get_all", {**body, "name": "exported"}, version=V)
    prepare_id = prepared["prepare_id"]
    rows = _rows(_download(client, prepare_id))
    assert rows[1:] == [["exported task", "Draft"]]
    assert _download(client, prepare_id).headers["Content-Disposition"].endswith('"clearml-tasks.csv"')
    twice = {**body, "field_mappings": [{"field": "name"}, {"field": "status", "name": "name"}]}
    assert codes(client.error("organization.prepare_download_for_get_all", twice, version=V)) == (400, 12)
    wrong = client.error("organization.prepare_download_for_get_all", {**body, "status": {"$ne": 1}}, version=V)
    assert codes(wrong) == (400, 12) and "status" in wrong["result_msg"]


def test_a_prepare_id_is_its_users_only(app, client, other_client):
    prepare_id = _prepare(client)
    for stranger in (other_client, make_user(app, "colleague", client.identity["company"])):
        reply = _download(stranger, prepare_id)
        assert reply.status_code == 400 and reply.json["meta"]["result_subcode"] == 10
        assert "prepare ID not found" in reply.json["meta"]["result_msg"]
    assert _download(client, "0" * 32).status_code == 400


def test_a_guest_exports_only_what_it_can_read(app, client, other_client):
    client.ok("models.create", {"name": "ours", "uri": "s3://b/k"})
    other_client.ok("models.create", {"name": "theirs", "uri": "s3://b/k"})
    guest = make_user(app, "gina", client.identity["company"], role="guest")
    rows = _rows(_download(guest, _prepare(guest)))
    names = [r[0] for r in rows[1:]]
    assert "ours" in names and "theirs" not in names


def test_project_workloads_have_clearmls_shape(client):
    project = client.ok("projects.create", {"name": "work", "description": ""})["id"]
    child = client.ok("projects.create", {"name": "work/child", "description": ""})["id"]
    task = client.ok("tasks.create", {"name": "runs", "type": "training", "project": child})["id"]
    client.ok("tasks.started", {"task": task})
    today = datetime.now(timezone.utc)
    span = {"projects": [project], "from_date": (today - timedelta(days=2)).isoformat(), "to_date": today.isoformat()}
    empty = client.ok("organization.get_project_workloads", span, version="2.31")
    assert empty == {key: {"total": [], "series": []} for key in ("projects", "queues", "users")}
    counted = client.ok("organization.get_project_workloads", {**span, "include_development": True}, version="2.31")
    (series,) = counted["projects"]["series"]
    assert series["id"] == child and series["name"] == "work/child" and len(series["dates"]) == 3
    assert len(series["duration"]) == 3 and series["gpu_artificial_weights"] is True
    assert counted["users"]["total"][0]["id"] == client.identity["user"]
    assert counted["queues"]["total"][0]["id"] is None
    bad = client.error("organization.get_project_workloads", {**span, "from_date": "yesterday"}, version="2.31")
    assert codes(bad) == (400, 12) and "from_date" in bad["result_msg"]


def test_the_browser_downloads_with_its_cookie(client):
    """The web app opens the download in a new tab: a GET, signed in by the token cookie only."""
    client.ok("models.create", {"name": "by cookie", "uri": "s3://b/k"})
    prepare_id = _prepare(client, name="by cookie")
    token = client.ok("auth.login", {})["token"]
    browser = ApiClient(client.app, None)
    reply = browser.raw(f"/api/v{V}/organization.download_for_get_all", method="GET",
                        query_string=f"prepare_id={prepare_id}", headers={"Cookie": f"{TOKEN_COOKIE}={token}"})
    assert reply.status_code == 200 and [r[0] for r in _rows(reply)[1:]] == ["by cookie"]
    assert browser.raw(f"/api/v{V}/organization.download_for_get_all", method="GET",
                       query_string=f"prepare_id={prepare_id}").status_code == 401
