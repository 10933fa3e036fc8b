"""projects.*: through the dispatcher."""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _create(client, name, **extra):
    return client.ok("projects.create", {"name": name, **extra}, version=V)["id"]


def test_create_get_by_id_and_parents(client):
    pid = _create(client, "alpha/beta/gamma", description="deep", tags=["b", "a"])
    project = client.ok("projects.get_by_id", {"project": pid}, version=V)["project"]
    assert project["name"] == "alpha/beta/gamma" and project["basename"] == "gamma"
    assert project["description"] == "deep" and project["tags"] == ["a", "b"]
    names = {p["name"]: p for p in client.ok("projects.get_all", {}, version=V)["projects"]}
    assert set(names) == {"alpha", "alpha/beta", "alpha/beta/gamma"}
    assert project["parent"] == names["alpha/beta"]["id"]
    assert project["path"] == [names["alpha"]["id"], names["alpha/beta"]["id"]]
    # an existing parent is reused
    _create(client, "alpha/delta")
    assert len(client.ok("projects.get_all", {"name": "^alpha$"}, version=V)["projects"]) == 1


def test_create_errors(client):
    _create(client, "unique")
    assert codes(client.error("projects.create", {"name": "unique"}, version=V)) == (400, 801)
    assert codes(client.error("projects.create", {"name": "ab"}, version=V)) == (400, 800)
    assert codes(client.error("projects.create", {"name": " / "}, version=V)) == (400, 407)
    assert codes(client.error("projects.create", {}, version=V)) == (400, 12)


def test_get_by_id_unknown_or_foreign_is_400_401(client, other_client):
    pid = _create(client, "mine")
    assert codes(other_client.error("projects.get_by_id", {"project": pid}, version=V)) == (400, 401)
    assert codes(client.error("projects.get_by_id", {"project": "nope"}, version=V)) == (400, 401)


def test_get_all_name_pattern_hidden_and_shallow(client):
    top = _create(client, "top-level")
    child = _create(client, "top-level/child")
    hidden = _create(client, "secret", system_tags=["hidden"])
    ids = lambda data: {p["id"] for p in client.ok("projects.get_all", data, version=V)["projects"]}  # noqa: E731
    assert ids({}) == {top, child}
    assert ids({"search_hidden": True}) == {top, child, hidden}
    assert ids({"id": [hidden]}) == {hidden}
    assert ids({"name": "^top-level$"}) == {top}
    assert ids({"shallow_search": True}) == {top}
    assert ids({"shallow_search": True, "parent": [top]}) == {child}
    assert ids({"parent": [top]}) == {child}
    # the SDK's lookup
    found = client.ok("projects.get_all", {"name": "^top\\-level$", "only_fields": ["id"], "search_hidden": True,
                                           "method": "get"}, version=V)["projects"]
    assert found == [{"id": top}]


def test_get_all_paging_order_and_bad_pattern(client):
    for name in ("p-one", "p-two", "p-three"):
        _create(client, name)
    page = client.ok("projects.get_all", {"order_by": ["name"], "page": 1, "page_size": 1,
                                          "only_fields": ["name"]}, version=V)["projects"]
    assert page == [{"name": "p-three"}]
    assert codes(client.error("projects.get_all", {"name": "(a+)+$"}, version=V)) == (400, 21)
    assert codes(client.error("projects.get_all", {"only_fields": ["nosuch"]}, version=V)) == (400, 14)


def test_get_all_scroll(client):
    for n in range(5):
        _create(client, f"scroll-{n}")
    first = client.ok("projects.get_all", {"scroll_id": None, "size": 3, "order_by": ["name"]}, version=V)
    second = client.ok("projects.get_all", {"scroll_id": first["scroll_id"], "size": 3, "order_by": ["name"]},
                       version=V)
    names = [p["name"] for p in first["projects"] + second["projects"]]
    assert names == [f"scroll-{n}" for n in range(5)]


def test_get_all_ex_own_contents_stats_and_subprojects(client):
    pid = _create(client, "stats-proj")
    sub = _create(client, "stats-proj/sub")
    client.ok("tasks.create", {"name": "task-1", "type": "training", "project": pid}, version=V)
    client.ok("tasks.create", {"name": "task-2", "type": "training", "project": sub}, version=V)
    client.ok("models.create", {"name": "model-1", "uri": "file:///m", "project": pid}, version=V)
    projects = client.ok("projects.get_all_ex", {"id": [pid], "check_own_contents": True, "include_stats": True},
                         version=V)["projects"]
    [project] = projects
    assert project["own_tasks"] == 1 and project["own_models"] == 1
    assert project["sub_projects"] == [{"id": sub, "name": "stats-proj/sub"}]
    assert project["stats"]["active"]["status_count"]["created"] == 2


def test_update_and_rename(client):
    pid = _create(client, "rename-me")
    child = _create(client, "rename-me/kid")
    data = client.ok("projects.update", {"project": pid, "name": "renamed", "description": "d"}, version=V)
    assert data["updated"] == 1 and data["fields"]["name"] == "renamed"
    kid = client.ok("projects.get_by_id", {"project": child}, version=V)["project"]
    assert kid["name"] == "renamed/kid"
    assert codes(client.error("projects.update", {"project": pid, "name": "other/renamed"}, version=V)) == (400, 408)
    assert codes(client.error("projects.update", {"project": "nope", "name": "xyz"}, version=V)) == (400, 401)


def test_delete_refuses_with_contents_unless_force(client):
    pid = _create(client, "to-delete")
    sub = _create(client, "to-delete/sub")
    task = client.ok("tasks.create", {"name": "task-1", "type": "training", "project": sub}, version=V)["id"]
    model = client.ok("models.create", {"name": "model-1", "uri": "file:///m", "project": pid}, version=V)["id"]
    counts = client.ok("projects.validate_delete", {"project": pid}, version=V)
    assert counts == {"tasks": 1, "non_archived_tasks": 1, "models": 1, "non_archived_models": 1}
    assert codes(client.error("projects.delete", {"project": pid}, version=V)) == (400, 402)
    client.ok("tasks.edit", {"task": task, "system_tags": ["archived"]}, version=V)
    assert codes(client.error("projects.delete", {"project": pid}, version=V)) == (400, 405)
    reply = client.ok("projects.delete", {"project": pid, "force": True}, version=V)
    assert reply["deleted"] == 2 and reply["disassociated_tasks"] == 1
    assert client.ok("tasks.get_by_id", {"task": task}, version=V)["task"]["project"] is None
    assert client.ok("models.get_by_id", {"model": model}, version=V)["model"]["project"] is None
    assert codes(client.error("projects.get_by_id", {"project": sub}, version=V)) == (400, 401)


def test_delete_contents(client):
    pid = _create(client, "with-contents")
    task = client.ok("tasks.create", {"name": "task-1", "type": "training", "project": pid}, version=V)["id"]
    model = client.ok("models.create", {"name": "model-1", "uri": "file:///m", "project": pid}, version=V)["id"]
    reply = client.ok("projects.delete", {"project": pid, "force": True, "delete_contents": True}, version=V)
    assert reply["deleted_tasks"] == 1 and reply["deleted_models"] == 1
    assert reply["urls"]["model_urls"] == ["file:///m"]
    assert codes(client.error("tasks.get_by_id", {"task": task}, version=V)) == (400, 101)
    assert codes(client.error("models.get_by_id", {"model": model}, version=V)) == (400, 201)


def test_model_and_task_tags(client, other_client):
    pid = _create(client, "tagged")
    client.ok("models.create", {"name": "m-1", "uri": "u1", "project": pid, "tags": ["x", "y"],
                                "system_tags": ["archived"]}, version=V)
    client.ok("models.create", {"name": "m-2", "uri": "u2", "tags": ["z"]}, version=V)
    other_client.ok("models.create", {"name": "m-3", "uri": "u3", "tags": ["foreign"]}, version=V)
    client.ok("tasks.create", {"name": "t-1", "type": "training", "project": pid, "tags": ["t"]}, version=V)
    assert client.ok("projects.get_model_tags", {}, version=V) == {"tags": ["x", "y", "z"]}
    assert client.ok("projects.get_model_tags", {"projects": [pid], "include_system": True}, version=V) == {
        "tags": ["x", "y"], "system_tags": ["archived"]}
    assert client.ok("projects.get_model_tags", {"filter": {"system_tags": ["-archived"]}}, version=V) == {
        "tags": ["z"]}
    assert client.ok("projects.get_task_tags", {"projects": [pid]}, version=V) == {"tags": ["t"]}


def test_model_metadata_keys_and_values(client):
    pid = _create(client, "meta-proj")
    sub = _create(client, "meta-proj/sub")
    for n, (project, value) in enumerate([(pid, "a"), (sub, "b"), (pid, "a")]):
        mid = client.ok("models.create", {"name": f"model-{n}", "uri": f"u{n}", "project": project}, version=V)["id"]
        client.ok("models.add_or_update_metadata", {"model": mid, "metadata": [
            {"key": "dotted.key", "type": "str", "value": value}, {"key": f"k{n}", "type": "int", "value": "1"}]},
            version=V)
    keys = client.ok("projects.get_model_metadata_keys", {"project": pid}, version=V)
    assert keys == {"keys": ["dotted.key", "k0", "k1", "k2"], "remaining": 0, "total": 4}
    shallow = client.ok("projects.get_model_metadata_keys", {"project": pid, "include_subprojects": False,
                                                             "page_size": 1, "page": 1}, version=V)
    assert shallow == {"keys": ["k0"], "remaining": 1, "total": 3}
    values = client.ok("projects.get_model_metadata_values", {"projects": [pid], "key": "dotted.key"}, version=V)
    assert values == {"total": 2, "values": ["a", "b"]}


def test_get_all_ex_active_users(client, app):
    from tests.helpers import make_user

    carol = make_user(app, "carol", client.identity["company"])
    mine = _create(client, "mine-proj")
    theirs = _create(client, "outer/theirs-proj")
    client.ok("tasks.create", {"name": "task-1", "type": "training", "project": mine}, version=V)
    carol.ok("tasks.create", {"name": "task-2", "type": "training", "project": theirs}, version=V)
    found = client.ok("projects.get_all_ex", {"active_users": [carol.identity["user"]], "only_fields": ["name"]},
                      version=V)["projects"]
    assert sorted(p["name"] for p in found) == ["outer", "outer/theirs-proj"]
