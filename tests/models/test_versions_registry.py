"""Registered models (modelreg 2.99 extension): version numbers, get_versions / get_latest, aliases
moving and resolving, the alias history, the get_all alias filter, and company isolation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import ApiClient, codes

X = "2.99"


def _create(client, name="resnet-registry", version=X, **fields) -> dict:
    reply = client.ok("models.create", {"name": name, "uri": "s3://b/m.pt", **fields}, version=version)
    return client.ok("models.get_by_id", {"model": reply["id"]}, version=version)["model"]


def _project(client, name="registry-project") -> str:
    return client.ok("projects.create", {"name": name, "description": "d"}, version="2.13")["id"]


def test_versions_count_up_per_name_and_project(client):
    project = _project(client)
    first = _create(client, project=project)
    second = _create(client, project=project)
    other_name = _create(client, name="other-registry", project=project)
    root = _create(client)  # same name, no project: another registered model
    assert (first["version"], second["version"], other_name["version"], root["version"]) == (1, 2, 1, 1)


def test_version_is_assigned_and_shown_through_clearml_endpoints(client):
    model_id = client.ok("models.create", {"name": "clearml-made", "uri": "s3://b/x"}, version="2.13")["id"]
    again = client.ok("models.create", {"name": "clearml-made", "uri": "s3://b/y"}, version="2.1")["id"]
    # ok() checks every reply against the ClearML response schema of the version served
    assert client.ok("models.get_by_id", {"model": model_id}, version="2.13")["model"]["version"] == 1
    listed = client.ok("models.get_all", {"id": [model_id, again], "only_fields": ["id", "version"]}, version="2.26")
    assert sorted(m["version"] for m in listed["models"]) == [1, 2]


def test_numbers_are_never_reused_after_a_delete(client):
    first = _create(client)
    client.ok("models.delete", {"model": first["id"]}, version="2.13")
    assert _create(client)["version"] == 2


def test_twenty_concurrent_creates_get_one_to_twenty(client):
    def create(_):
        caller = ApiClient(client.app, client.authorization)  # a test client per thread
        return caller.ok("models.create", {"name": "concurrent-model", "uri": "s3://b/c"}, version=X)["id"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(create, range(20)))
    listed = client.ok("models.get_versions", {"name": "concurrent-model", "page_size": 100}, version=X)
    assert sorted(m["id"] for m in listed["models"]) == sorted(ids)
    assert sorted(m["version"] for m in listed["models"]) == list(range(1, 21))
    assert listed["last_version"] == 20 and listed["total"] == 20


def test_get_versions_pages_newest_first(client):
    ids = [_create(client)["id"] for _ in range(5)]
    page0 = client.ok("models.get_versions", {"name": "resnet-registry", "page_size": 2}, version=X)
    page2 = client.ok("models.get_versions", {"name": "resnet-registry", "page": 2, "page_size": 2}, version=X)
    assert [m["version"] for m in page0["models"]] == [5, 4] and page0["total"] == 5
    assert [m["id"] for m in page2["models"]] == [ids[0]]
    assert codes(client.error("models.get_versions", {"name": "x", "project": "nope"}, version=X)) == (400, 401)


def test_get_latest_and_ready_only(client):
    published = _create(client)
    newest = _create(client, ready=False)
    assert client.ok("models.get_latest", {"name": "resnet-registry"}, version=X)["model"]["id"] == newest["id"]
    ready = client.ok("models.get_latest", {"name": "resnet-registry", "ready_only": True}, version=X)
    assert ready["model"]["id"] == published["id"]
    assert codes(client.error("models.get_latest", {"name": "never-created"}, version=X)) == (400, 201)
    # extension endpoints do not exist at ClearML versions
    assert codes(client.error("models.get_latest", {"name": "resnet-registry"}, version="2.34")) == (404, 0)


def test_aliases_move_resolve_and_are_recorded(client):
    v1, v2 = _create(client), _create(client)
    key = {"name": "resnet-registry"}
    first = client.ok("models.set_alias", {"model": v1["id"], "alias": "champion"}, version=X)
    assert first["previous"] is None and first["version"] == 1
    assert client.ok("models.get_by_alias", {**key, "alias": "champion"}, version=X)["model"]["id"] == v1["id"]
    moved = client.ok("models.set_alias", {"model": v2["id"], "alias": "champion"}, version=X)
    assert moved["previous"] == v1["id"]
    client.ok("models.set_alias", {"model": v2["id"], "alias": "production"}, version=X)
    resolved = client.ok("models.get_by_alias", {**key, "alias": "champion"}, version=X)["model"]
    assert resolved["id"] == v2["id"] and resolved["aliases"] == ["champion", "production"]
    old = client.ok("models.get_by_id", {"model": v1["id"]}, version=X)["model"]
    assert old["aliases"] == []
    listed = client.ok("models.get_versions", key, version=X)
    assert listed["aliases"] == {"champion": v2["id"], "production": v2["id"]}
    newest_change = listed["alias_history"][1]  # newest first: production, then the champion move
    assert newest_change["alias"] == "champion" and newest_change["previous"] == v1["id"]
    assert (newest_change["version"], newest_change["previous_version"]) == (2, 1)
    assert newest_change["user"] == client.identity["user"]


def test_concurrent_moves_of_one_alias_leave_an_unbroken_history(client):
    versions = [_create(client)["id"] for _ in range(6)]

    def move(n):
        caller = ApiClient(client.app, client.authorization)  # a test client per thread
        return caller.ok("models.set_alias", {"model": versions[n % 6], "alias": "prod"}, version=X)["previous"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        previous = list(pool.map(move, range(24)))
    listed = client.ok("models.get_versions", {"name": "resnet-registry"}, version=X)
    history = list(reversed([h for h in listed["alias_history"] if h["alias"] == "prod"]))  # oldest first
    assert len(history) == 24
    # each move is recorded with the move it followed: the history replays to the alias as it is
    assert history[0]["previous"] is None
    assert all(later["previous"] == earlier["model"] for earlier, later in zip(history, history[1:], strict=False))
    assert listed["aliases"]["prod"] == history[-1]["model"]
    assert sorted(previous, key=str) == sorted((h["previous"] for h in history), key=str)
    holders = [m["id"] for m in listed["models"] if m.get("aliases") == ["prod"]]
    assert holders == [history[-1]["model"]]
    # one change-log entry a move, with what it replaced
    db = client.app.modelreg_state.stores.db
    moved = [entry for log in ("change_log", "change_log_pending")  # numbered and not yet
             for entry in db[log].find({"company": client.identity["company"], "kind": "alias.moved"})]
    assert len(moved) == 24


def test_delete_alias(client):
    v1, v2 = _create(client), _create(client)
    client.ok("models.set_alias", {"model": v1["id"], "alias": "staging"}, version=X)
    assert client.ok("models.delete_alias", {"model": v2["id"], "alias": "staging"}, version=X) == {"deleted": False}
    assert client.ok("models.delete_alias", {"model": v1["id"], "alias": "staging"}, version=X) == {"deleted": True}
    meta = client.error("models.get_by_alias", {"name": "resnet-registry", "alias": "staging"}, version=X)
    assert codes(meta) == (400, 201)
    assert client.ok("models.get_by_id", {"model": v1["id"]}, version=X)["model"]["aliases"] == []
    history = client.ok("models.get_versions", {"name": "resnet-registry"}, version=X)["alias_history"]
    assert history[0]["model"] is None and history[0]["previous"] == v1["id"]


def test_bad_alias_names_are_refused(client):
    model = _create(client)
    for alias in ("", "with.dot", "$set", "1abc", "a" * 65):
        meta = client.error("models.set_alias", {"model": model["id"], "alias": alias}, version=X)
        assert codes(meta) == (400, 12) and "alias" in meta["result_msg"]


def test_get_all_filters_by_alias_at_2_99_only(client):
    v1, v2 = _create(client), _create(client)
    client.ok("models.set_alias", {"model": v2["id"], "alias": "champion"}, version=X)
    found = client.ok("models.get_all", {"aliases": ["champion"]}, version=X)["models"]
    assert [m["id"] for m in found] == [v2["id"]]
    excluded = client.ok("models.get_all", {"aliases": ["-champion"], "name": "^resnet-registry$"}, version=X)
    assert [m["id"] for m in excluded["models"]] == [v1["id"]]
    # at a ClearML version the key is unknown and ignored
    assert len(client.ok("models.get_all", {"aliases": ["champion"]}, version="2.26")["models"]) == 2


def test_rename_joins_another_registered_model_and_drops_aliases(client):
    v1 = _create(client)
    _create(client, name="renamed-model")
    client.ok("models.set_alias", {"model": v1["id"], "alias": "champion"}, version=X)
    reply = client.ok("models.edit", {"model": v1["id"], "name": "renamed-model"}, version=X)
    assert reply["fields"]["version"] == 2
    moved = client.ok("models.get_by_id", {"model": v1["id"]}, version=X)["model"]
    assert (moved["version"], moved["aliases"]) == (2, [])
    meta = client.error("models.get_by_alias", {"name": "resnet-registry", "alias": "champion"}, version=X)
    assert codes(meta) == (400, 201)
    # an alias set later in the new registered model is copied onto the model again
    client.ok("models.set_alias", {"model": v1["id"], "alias": "fresh"}, version=X)
    assert client.ok("models.get_by_id", {"model": v1["id"]}, version=X)["model"]["aliases"] == ["fresh"]


def test_move_to_another_project_takes_a_new_version(client):
    project = _project(client)
    _create(client, project=project)
    model = _create(client)
    client.ok("models.move", {"ids": [model["id"]], "project": project}, version="2.13")
    assert client.ok("models.get_by_id", {"model": model["id"]}, version=X)["model"]["version"] == 2


def test_company_isolation(client, other_client):
    mine = _create(client)
    client.ok("models.set_alias", {"model": mine["id"], "alias": "champion"}, version=X)
    for endpoint, data in (
        ("models.set_alias", {"model": mine["id"], "alias": "champion"}),
        ("models.delete_alias", {"model": mine["id"], "alias": "champion"}),
    ):
        assert codes(other_client.error(endpoint, data, version=X)) == (400, 201), endpoint
    meta = other_client.error("models.get_by_alias", {"name": "resnet-registry", "alias": "champion"}, version=X)
    assert codes(meta) == (400, 201)
    assert other_client.ok("models.get_versions", {"name": "resnet-registry"}, version=X)["total"] == 0
    assert codes(other_client.error("models.get_latest", {"name": "resnet-registry"}, version=X)) == (400, 201)
    # the other company's registered model of the same name counts on its own
    theirs = _create(other_client)
    assert theirs["version"] == 1
    assert other_client.ok("models.get_versions", {"name": "resnet-registry"}, version=X)["aliases"] == {}
    assert client.ok("models.get_by_alias", {"name": "resnet-registry", "alias": "champion"},
                     version=X)["model"]["id"] == mine["id"]


def test_public_models_belong_to_the_registered_model_of_their_company(client, other_client):
    mine = _create(client, public=True)
    theirs = _create(other_client, public=True)
    assert (mine["version"], theirs["version"]) == (1, 1)
    listed = client.ok("models.get_versions", {"name": "resnet-registry"}, version=X)
    assert [m["id"] for m in listed["models"]] == [mine["id"]]
    assert client.ok("models.get_latest", {"name": "resnet-registry"}, version=X)["model"]["id"] == mine["id"]
    # a public model is nobody's to alias, not even its owner's (it can be taken back first)
    meta = client.error("models.set_alias", {"model": mine["id"], "alias": "champion"}, version=X)
    assert codes(meta) == (400, 201)


def test_deleted_aliased_model(client):
    v1 = _create(client)
    client.ok("models.set_alias", {"model": v1["id"], "alias": "champion"}, version=X)
    client.ok("models.delete", {"model": v1["id"]}, version="2.13")
    meta = client.error("models.get_by_alias", {"name": "resnet-registry", "alias": "champion"}, version=X)
    assert codes(meta) == (400, 201)
    assert client.ok("models.get_versions", {"name": "resnet-registry"}, version=X)["aliases"] == {}
    v2 = _create(client)
    assert client.ok("models.set_alias", {"model": v2["id"], "alias": "champion"}, version=X)["previous"] == v1["id"]


@pytest.mark.parametrize("endpoint, data, expected", [
    ("models.create", {"name": "ab", "uri": "u"}, (400, 800)),
    ("models.get_versions", {}, (400, 12)),
    ("models.get_versions", {"name": "resnet-registry", "page_size": 0}, (400, 12)),
    ("models.get_latest", {"name": 3}, (400, 12)),
    ("models.set_alias", {"model": "m"}, (400, 12)),
    ("models.set_alias", {"model": "missing", "alias": "champion"}, (400, 201)),
    ("models.get_by_alias", {"name": "resnet-registry"}, (400, 12)),
    ("models.get_lineage", {"model": "m", "depth": -1}, (400, 12)),
    ("models.get_lineage", {"model": "missing"}, (400, 201)),
    ("models.validate_input", {"model": "m"}, (400, 12)),
    ("models.import_url", {"model": "m"}, (400, 12)),
])
def test_bad_input(client, endpoint, data, expected):
    meta = client.error(endpoint, data, version=X)
    assert codes(meta) == expected, meta


def test_update_for_task_assigns_versions(client):
    task = client.ok("tasks.create", {"name": "sdk-like-task", "type": "training"}, version="2.13")["id"]
    created = client.ok("models.update_for_task", {"task": task, "uri": "s3://b/o.pt", "name": "task-output"},
                        version="2.13")
    model = client.ok("models.get_by_id", {"model": created["id"]}, version="2.13")["model"]
    assert model["version"] == 1
    assert _create(client, name="task-output")["version"] == 2
