"""users.*: the current user, names of the caller's company's users (never another company's), and
per-user preferences with ClearML's merge rule (given top-level keys replaced, others kept)."""

from __future__ import annotations

from tests.helpers import codes, make_user

V = "999.0"
# users.set_preferences bodies exactly as the ClearML web app sent them
VIEWS = {"autoRefresh": True, "hideEnterpriseFeatures": False, "hideRedactedArguments": False,
         "neverShowPopupAgain": [],
         "redactedArguments": [{"key": "CLEARML_API_SECRET_KEY"}, {"key": "CLEARML_AGENT_GIT_PASS"},
                               {"key": "AWS_SECRET_ACCESS_KEY"}, {"key": "AZURE_STORAGE_KEY"}],
         "theme": "dark"}
ROOT_PROJECTS = {"blockUserScript": False, "defaultNestedModeForFeature": {}, "graphVariant": {},
                 "hideExamples": False, "showHidden": False, "tagsColors": {}}
BODY_1 = {"preferences": {"views": VIEWS}, "return_updated": False}
BODY_2 = {"preferences": {"rootProjects": ROOT_PROJECTS, "users": {"activeWorkspace": None, "showOnlyUserWork": {}},
                          "views": {**VIEWS, "theme": "system"}}, "return_updated": False}
BODY_3 = {"preferences": {"rootProjects": ROOT_PROJECTS, "views": {**VIEWS, "theme": None}}, "return_updated": False}


def test_current_user_has_company_object_and_role(client):
    data = client.ok("users.get_current_user", {"get_supported_features": True}, version=V)
    user = data["user"]
    assert user["id"] == client.identity["user"] and user["name"] == "alice" and user["role"] == "admin"
    assert user["company"] == {"id": client.identity["company"], "name": "alice-co"}
    assert data["settings"] == {}
    # older clients get the same shape
    assert client.ok("users.get_current_user", {}, version="2.1")["user"]["company"]["id"] == client.identity["company"]


def test_get_by_id_only_within_the_company(app, client, other_client):
    carol = make_user(app, "carol", client.identity["company"])
    user = client.ok("users.get_by_id", {"user": carol.identity["user"]}, version=V)["user"]
    assert user["id"] == carol.identity["user"] and user["name"] == "carol"
    assert user["company"] == client.identity["company"]
    assert "company_name" not in user
    assert codes(client.error("users.get_by_id", {"user": other_client.identity["user"]}, version=V)) == (400, 1000)
    assert codes(client.error("users.get_by_id", {"user": "nope"}, version=V)) == (400, 1000)
    assert codes(client.error("users.get_by_id", {}, version=V)) == (400, 12)


def test_get_all_lists_the_company_only(app, client, other_client):
    carol = make_user(app, "carol", client.identity["company"])
    expected = {client.identity["user"]: "alice", carol.identity["user"]: "carol"}
    for body in ("null", "{}"):  # the web app sends both
        result = client.raw(f"/api/v{V}/users.get_all", body, headers={"Content-Type": "application/json"})
        assert result.status_code == 200, result.text
        assert {u["id"]: u["name"] for u in result.json["data"]["users"]} == expected
    assert {u["id"] for u in other_client.ok("users.get_all", {}, version=V)["users"]} == {
        other_client.identity["user"]}
    named = client.ok("users.get_all", {"name": "^car", "only_fields": ["name"]}, version=V)["users"]
    assert named == [{"name": "carol"}]
    ordered = client.ok("users.get_all", {"order_by": ["-name"], "page": 0, "page_size": 1}, version=V)["users"]
    assert [u["name"] for u in ordered] == ["carol"]
    # get_all_ex: the same listing
    assert {u["id"] for u in client.ok("users.get_all_ex", {}, version=V)["users"]} == set(expected)


def test_get_all_ex_active_in_projects(app, client, other_client):
    carol = make_user(app, "carol", client.identity["company"])
    project = client.ok("projects.create", {"name": "team-work"}, version="2.23")["id"]
    carol.ok("tasks.create", {"name": "carol-task", "type": "training", "project": project}, version="2.23")
    active = client.ok("users.get_all_ex", {"active_in_projects": [project]}, version=V)["users"]
    # alice made the project, carol the task
    assert {u["id"] for u in active} == {client.identity["user"], carol.identity["user"]}
    assert client.ok("users.get_all_ex", {"active_in_projects": ["no-such-project"]}, version=V)["users"] == []
    assert [u["id"] for u in client.ok("users.get_all_ex", {"active_in_projects": [project],
                                                            "id": [carol.identity["user"]]}, version=V)["users"]] == [
        carol.identity["user"]]


def test_preferences_replay_the_web_app_and_merge_top_level_keys(client, other_client):
    assert client.ok("users.get_preferences", {}, version=V) == {"preferences": {}}
    assert client.ok("users.set_preferences", BODY_1, version=V) == {"updated": 1, "fields": {}}
    assert client.ok("users.get_preferences", {}, version=V)["preferences"] == {"views": VIEWS}
    client.ok("users.set_preferences", BODY_2, version=V)
    client.ok("users.set_preferences", BODY_3, version=V)
    prefs = client.ok("users.get_preferences", {}, version=V)["preferences"]
    # "users" came with body 2 only and stays; "views" is replaced whole by body 3
    assert prefs == {"rootProjects": ROOT_PROJECTS, "users": {"activeWorkspace": None, "showOnlyUserWork": {}},
                     "views": {**VIEWS, "theme": None}}
    # the same values again change nothing
    assert client.ok("users.set_preferences", BODY_3, version=V) == {"updated": 0, "fields": {}}
    # without return_updated (default true) the reply carries all preferences
    reply = client.ok("users.set_preferences", {"preferences": {"extra": {"a": 1}}}, version="2.1")
    assert reply == {"updated": 1, "fields": {"preferences": {**prefs, "extra": {"a": 1}}}}
    # each user has their own
    assert other_client.ok("users.get_preferences", {}, version=V) == {"preferences": {}}


def test_empty_preference_keys_are_refused(client):
    for bad in ({"": 1}, {"views": {"": 1}}, {"views": [{"": 1}]}):
        meta = client.error("users.set_preferences", {"preferences": bad}, version=V)
        assert codes(meta) == (400, 16), meta
    assert codes(client.error("users.set_preferences", {}, version=V)) == (400, 12)
    assert client.ok("users.get_preferences", {}, version=V) == {"preferences": {}}


def test_user_names_of_task_and_model_owners(app, client, other_client):
    carol = make_user(app, "carol", client.identity["company"])
    project = client.ok("projects.create", {"name": "shared-area"}, version="2.23")["id"]
    child = client.ok("projects.create", {"name": "shared-area/inner"}, version="2.23")["id"]
    elsewhere = client.ok("projects.create", {"name": "elsewhere"}, version="2.23")["id"]
    carol.ok("tasks.create", {"name": "carol-task", "type": "training", "project": child}, version="2.23")
    client.ok("tasks.create", {"name": "alice-task", "type": "training", "project": elsewhere}, version="2.23")
    client.ok("models.create", {"name": "alice-model", "uri": "s3://b/m", "project": project}, version="2.23")
    # a public model of company B in the same project id space is never a name source for company A
    other_client.ok("models.create", {"name": "bob-model", "uri": "s3://b/n", "public": True}, version="2.23")

    def names(body):
        return [u["name"] for u in client.ok("projects.get_user_names", body, version=V)["users"]]

    # the three bodies the web app sent
    assert names({"entity": "task", "include_subprojects": True}) == ["alice", "carol"]
    assert names({"entity": "model", "include_subprojects": True}) == ["alice"]
    assert names({"entity": "model", "include_subprojects": False, "projects": [project]}) == ["alice"]
    assert names({"entity": "task", "include_subprojects": True, "projects": [project]}) == ["carol"]
    assert names({"entity": "task", "include_subprojects": False, "projects": [project]}) == []
    assert codes(client.error("projects.get_user_names", {"entity": "queue"}, version=V)) == (400, 12)
    assert [u["name"] for u in other_client.ok("projects.get_user_names", {"entity": "model"}, version=V)[
        "users"]] == ["bob"]
