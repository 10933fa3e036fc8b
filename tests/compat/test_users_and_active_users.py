"""users.update, users.delete (ClearML's) and projects.get_all_ex per-user aggregations.

Read from clearml-server apiserver/services/users.py `update` (name, given_name, family_name, avatar of
a user of the company; reply `{updated, fields}`) and `delete` (apiserver/schema/services/users.conf:
roles system and root, an empty reply), and apiserver/services/projects.py `get_all_ex` (with
`active_users`, `get_projects_with_selected_children` keeps the projects those users are active in, and
`calc_own_contents` and `get_project_stats` count only their tasks and models).
"""

from __future__ import annotations

from tests.helpers import codes, make_user

V = "2.23"


def test_users_update_self_and_by_admin_only(client, other_client, app):
    company = client.identity["company"]
    carol = make_user(app, "carol", company)
    dave = make_user(app, "dave", company)
    guest = make_user(app, "gus", company, role="guest")
    reply = carol.ok("users.update", {"user": carol.identity["user"], "name": "Carol C", "given_name": "Carol"},
                     version=V)
    assert reply == {"updated": 1, "fields": {"name": "Carol C", "given_name": "Carol"}}
    assert carol.ok("users.get_current_user", {}, version=V)["user"]["name"] == "Carol C"
    assert codes(carol.error("users.update", {"user": dave.identity["user"], "name": "x"}, version=V)) == (403, 20)
    assert codes(guest.error("users.update", {"user": guest.identity["user"], "name": "x"}, version=V))[0] == 403
    assert client.ok("users.update", {"user": dave.identity["user"], "avatar": "https://a/d.png"},
                     version=V)["updated"] == 1
    # another company's user is no user of this company: nothing changes
    theirs = other_client.identity["user"]
    assert client.ok("users.update", {"user": theirs, "name": "hijacked"}, version=V) == {"updated": 0, "fields": {}}
    assert other_client.ok("users.get_current_user", {}, version=V)["user"]["name"] != "hijacked"
    assert codes(client.error("users.update", {"user": dave.identity["user"], "name": ""}, version=V)) == (400, 12)


def test_users_delete_is_for_server_roles_and_answers_empty(client, app):
    company = client.identity["company"]
    root = make_user(app, "root-user", company, role="root")
    erin = make_user(app, "erin", company)
    assert codes(client.error("users.delete", {"user": erin.identity["user"]}, version=V)) == (403, 20)
    assert root.ok("users.delete", {"user": erin.identity["user"]}, version=V) == {}
    assert codes(erin.error("users.get_current_user", {}, version=V))[0] == 401
    assert codes(root.error("users.delete", {"user": erin.identity["user"]}, version=V)) == (400, 1000)
    assert codes(root.error("users.delete", {"user": root.identity["user"]}, version=V))[0] == 400


def test_get_all_ex_active_users_counts_only_their_tasks_and_models(client, app):
    carol = make_user(app, "carol", client.identity["company"])
    pid = client.ok("projects.create", {"name": "shared-proj", "description": ""}, version=V)["id"]
    client.ok("projects.create", {"name": "admins-only", "description": ""}, version=V)
    for api, name in ((client, "admin-task"), (carol, "carol-task"), (carol, "carol-task-2")):
        api.ok("tasks.create", {"name": name, "type": "training", "project": pid}, version=V)
    client.ok("models.create", {"name": "admin-model", "uri": "file:///a", "project": pid}, version=V)
    carol_only = carol.ok("projects.create", {"name": "carols-empty", "description": ""}, version=V)["id"]
    request = {"active_users": [carol.identity["user"]], "include_stats": True, "check_own_contents": True,
               "only_fields": ["name"], "order_by": ["name"]}
    found = client.ok("projects.get_all_ex", request, version=V)["projects"]
    assert [p["name"] for p in found] == ["carols-empty", "shared-proj"]
    shared = found[1]
    assert shared["own_tasks"] == 2 and shared["own_models"] == 0
    assert shared["stats"]["active"]["status_count"]["created"] == 2
    assert shared["stats"]["active"]["total_tasks"] == 2
    everyone = client.ok("projects.get_all_ex", {"id": [pid], "include_stats": True, "check_own_contents": True},
                         version=V)["projects"][0]
    assert everyone["own_tasks"] == 3 and everyone["own_models"] == 1
    assert everyone["stats"]["active"]["total_tasks"] == 3
    assert carol_only in [p["id"] for p in found]
