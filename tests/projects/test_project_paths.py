"""Project paths are bounded in depth and length wherever a project is named by path, and the bounds are
checked before anything is written (a missing parent is created one at a time)."""

from __future__ import annotations

import pytest

from tests.helpers import COMPANY_A, app_with, codes, make_user

V = "2.23"
DEEP = "/".join(["abc"] * 500)


def _names(client) -> set[str]:
    listed = client.ok("projects.get_all", {"search_hidden": True, "only_fields": ["name", "company"]},
                       version="2.13")["projects"]
    return {p["name"] for p in listed if p.get("company") == client.identity["company"]}


def _refused(meta: dict, code: tuple[int, int], field: str) -> None:
    assert codes(meta) == code
    assert f"field={field}" in meta["result_msg"]
    assert len(meta["result_msg"]) < 300  # the name itself is never echoed


@pytest.mark.parametrize("version", ["2.1", "2.13", "2.99"])
def test_create_refuses_a_deep_path_before_creating_any_parent(client, version):
    meta = client.error("projects.create", {"name": DEEP}, version=version)
    _refused(meta, (400, 409), "name")
    assert "max_depth=10" in meta["result_msg"]
    assert _names(client) == set()


def test_depth_counts_the_levels_of_the_normalized_name(client):
    ten = [f"lvl{i}" for i in range(10)]
    # empty and blank parts are dropped before counting, as when the name is stored
    client.ok("projects.create", {"name": " / " + "//".join(ten) + "/ "}, version=V)
    assert "/".join(ten) in _names(client)
    meta = client.error("projects.create", {"name": "/".join([*ten, "lvl10"])}, version=V)
    _refused(meta, (400, 409), "name")
    assert len(_names(client)) == 10


def test_create_refuses_a_long_name_before_creating_any_parent(client):
    _refused(client.error("projects.create", {"name": "x" * 3_000_000}, version=V), (400, 800), "name")
    _refused(client.error("projects.create", {"name": "top/" + "y" * 1021}, version=V), (400, 800), "name")
    assert _names(client) == set()
    client.ok("projects.create", {"name": "top/" + "y" * 1020}, version=V)  # 1024 characters
    assert len(_names(client)) == 2


def test_moves_and_clones_by_path_are_bounded_and_write_nothing(client):
    model = client.ok("models.create", {"name": "path-model", "uri": "s3://b/m.pt"}, version=V)["id"]
    task = client.ok("tasks.create", {"name": "path-task", "type": "training"}, version=V)["id"]
    long_name = "/".join(["z" * 200] * 6)
    for endpoint, body in (("models.move", {"ids": [model]}), ("tasks.move", {"ids": [task]})):
        _refused(client.error(endpoint, {**body, "project_name": DEEP}, version="2.12"), (400, 409), "project_name")
        _refused(client.error(endpoint, {**body, "project_name": long_name}, version="2.12"), (400, 800),
                 "project_name")
    meta = client.error("tasks.clone", {"task": task, "new_project_name": DEEP}, version=V)
    _refused(meta, (400, 409), "new_project_name")
    assert _names(client) == set()
    assert client.ok("models.get_by_id", {"model": model}, version=V)["model"].get("project") is None
    assert client.ok("tasks.get_by_id", {"task": task}, version=V)["task"].get("project") is None
    assert [t["id"] for t in client.ok("tasks.get_all", {"name": "^path-task$"}, version=V)["tasks"]] == [task]


def test_rename_refused_when_a_subproject_would_pass_the_length(client):
    parent = client.ok("projects.create", {"name": "short"}, version=V)["id"]
    kid = client.ok("projects.create", {"name": "short/" + "k" * 1000}, version=V)["id"]
    meta = client.error("projects.update", {"project": parent, "name": "l" * 100, "description": "new"}, version=V)
    _refused(meta, (400, 800), "name")
    assert "subproject" in meta["result_msg"]
    project = client.ok("projects.get_by_id", {"project": parent}, version=V)["project"]
    assert project["name"] == "short" and project["description"] == ""
    assert client.ok("projects.get_by_id", {"project": kid}, version=V)["project"]["name"] == "short/" + "k" * 1000
    _refused(client.error("projects.update", {"project": parent, "name": DEEP}, version=V), (400, 409), "name")
    _refused(client.error("projects.update", {"project": kid, "name": "n" * 2000}, version=V), (400, 800), "name")
    assert _names(client) == {"short", "short/" + "k" * 1000}


@pytest.fixture
def bounded_app(app_config, registry, db):
    with app_with(app_config, registry, {"projects.max_depth": 3, "projects.max_name_chars": 20}) as application:
        yield application


def test_bounds_are_settings(bounded_app):
    user = make_user(bounded_app, "alice", COMPANY_A, role="admin")
    user.ok("projects.create", {"name": "one/two/three"}, version=V)
    meta = user.error("projects.create", {"name": "one/two/three/four"}, version=V)
    _refused(meta, (400, 409), "name")
    assert "max_depth=3" in meta["result_msg"]
    _refused(user.error("projects.create", {"name": "one/" + "a" * 17}, version=V), (400, 800), "name")
    assert _names(user) == {"one", "one/two", "one/two/three"}
