"""The ClearML web app's projects page, models table and quiet calls, replayed with the exact request
bodies it sent (docs: clearml-webapp-calls.md), through the full dispatcher at /v999.0."""

from __future__ import annotations

from datetime import datetime

from tests.helpers import codes

V = "999.0"
MODEL_FIELDS = ["company", "created", "last_change", "last_update", "framework", "id", "labels", "name", "ready",
                "tags", "system_tags", "task.name", "uri", "user.name", "parent", "comment", "project.name"]
MODEL_PAGE_FIELDS = [*MODEL_FIELDS[:12], "task.project", *MODEL_FIELDS[12:], "design", "metadata"]


def _models_table_bodies(project: str) -> list[dict]:
    base = {"id": [], "include_subprojects": False, "only_fields": MODEL_FIELDS, "order_by": ["-created"],
            "ready": None, "refresh_scroll": False, "scroll_id": None, "size": 30, "system_tags": ["-archived"]}
    return [base, {**base, "refresh_scroll": True}, {**base, "project": [project]}]


def _projects_page_bodies(project: str) -> list[dict]:
    return [
        {"include_stats": True, "only_fields": ["name", "company", "user", "created", "default_output_destination",
                                                "basename", "system_tags"],
         "order_by": ["featured", "-last_update"], "permission_roots_only": True, "scroll_id": None,
         "shallow_search": True, "size": 16, "stats_for_state": "active"},
        {"id": [project], "include_stats": True, "include_stats_filter": {"system_tags": ["-pipeline", "-dataset"]}},
        {"check_own_contents": True, "include_stats": True, "include_stats_filter": {"system_tags": ["-pipeline"]},
         "only_fields": ["name", "basename", "company", "user", "created", "default_output_destination"],
         "order_by": ["-last_update"], "page": 0, "page_size": 6, "stats_for_state": "active"},
    ]


def _setup(client):
    project = client.ok("projects.create", {"name": "vision"}, version="2.23")["id"]
    task = client.ok("tasks.create", {"name": "train-net", "type": "training", "project": project},
                     version="2.23")["id"]
    published = client.ok("models.create", {"name": "net-final", "uri": "s3://b/final", "project": project,
                                            "task": task}, version="2.23")["id"]
    draft = client.ok("models.create", {"name": "net-draft", "uri": "s3://b/draft", "project": project,
                                        "ready": False}, version="2.23")["id"]
    archived = client.ok("models.create", {"name": "net-old", "uri": "s3://b/old", "project": project,
                                           "system_tags": ["archived"]}, version="2.23")["id"]
    return project, task, published, draft, archived


def test_models_table_queries(client):
    project, task, published, draft, archived = _setup(client)
    outside = client.ok("models.create", {"name": "no-project", "uri": "s3://b/x"}, version="2.23")["id"]
    first, refresh, in_project = _models_table_bodies(project)
    page = client.ok("models.get_all_ex", first, version=V)
    # ready: null filters nothing; -archived leaves the archived one out; newest first
    assert [m["id"] for m in page["models"]] == [outside, draft, published]
    assert page["scroll_id"]
    by_id = {m["id"]: m for m in page["models"]}
    assert by_id[published]["project"] == {"id": project, "name": "vision"}
    assert by_id[published]["task"] == {"id": task, "name": "train-net"}
    assert by_id[published]["user"] == {"id": client.identity["user"], "name": "alice"}
    assert by_id[draft]["ready"] is False and by_id[published]["ready"] is True
    refreshed = client.ok("models.get_all_ex", {**refresh, "scroll_id": page["scroll_id"]}, version=V)
    assert [m["id"] for m in refreshed["models"]] == [outside, draft, published]
    assert [m["id"] for m in client.ok("models.get_all_ex", in_project, version=V)["models"]] == [draft, published]
    # ready still filters when given
    assert [m["id"] for m in client.ok("models.get_all_ex", {**first, "ready": False}, version=V)["models"]] == [draft]
    assert [m["id"] for m in client.ok("models.get_all", {"ready": None, "system_tags": ["-archived"],
                                                          "order_by": ["name"]}, version=V)["models"]] == [
        draft, published, outside]
    # a model's page
    one = client.ok("models.get_by_id_ex", {"id": [published], "only_fields": MODEL_PAGE_FIELDS}, version=V)
    assert one["models"][0]["id"] == published
    assert archived not in {m["id"] for m in page["models"]}


def test_projects_page_queries(client, other_client):
    project, task, *_ = _setup(client)
    client.ok("tasks.started", {"task": task}, version="2.23")
    client.ok("tasks.completed", {"task": task}, version="2.23")
    client.ok("tasks.create", {"name": "queued-later", "type": "training", "project": project}, version="2.23")
    other = client.ok("projects.create", {"name": "other-place"}, version="2.23")["id"]
    # another company's project never shows
    other_client.ok("projects.create", {"name": "foreign"}, version="2.23")
    roots, by_id, recent = _projects_page_bodies(project)

    listed = client.ok("projects.get_all_ex", roots, version=V)["projects"]
    # featured first (none is featured here), then the most recently updated
    assert [p["id"] for p in listed] == [other, project]
    for entry in listed:
        assert entry["company"] == {"id": client.identity["company"], "name": "alice-co"}
        active = entry["stats"]["active"]
        assert set(active) >= {"status_count", "total_tasks", "total_runtime", "completed_tasks_24h", "last_task_run"}
        assert active["total_tasks"] == sum(active["status_count"].values())
    stats = {p["id"]: p["stats"]["active"] for p in listed}
    assert stats[project]["total_tasks"] == 2 and stats[project]["status_count"]["completed"] == 1
    assert stats[project]["completed_tasks_24h"] == 1 and stats[project]["last_task_run"]
    timed = client.ok("tasks.get_by_id", {"task": task}, version="2.23")["task"]
    took = datetime.fromisoformat(timed["completed"]) - datetime.fromisoformat(timed["started"])
    assert stats[project]["total_runtime"] == int(took.total_seconds())  # whole seconds of the one task run
    assert stats[other] == {**stats[other], "total_tasks": 0, "completed_tasks_24h": 0, "last_task_run": None,
                            "total_runtime": 0}

    single = client.ok("projects.get_all_ex", by_id, version=V)["projects"]
    assert [p["id"] for p in single] == [project] and single[0]["stats"]["active"]["total_tasks"] == 2

    page = client.ok("projects.get_all_ex", recent, version=V)["projects"]
    assert [p["id"] for p in page] == [other, project]
    # the archived model is left out, as ClearML's own_models does
    assert {p["id"]: p["own_models"] for p in page}[project] == 2


def test_featured_order_keeps_other_keys_working(client):
    names = ["alpha-one", "beta-two", "gamma-three"]
    for name in names:
        client.ok("projects.create", {"name": name}, version="2.23")
    listed = client.ok("projects.get_all_ex", {"order_by": ["featured", "name"], "only_fields": ["name"]},
                       version=V)["projects"]
    assert [p["name"] for p in listed] == names
    assert codes(client.error("projects.get_all_ex", {"order_by": ["nosuch"]}, version=V)) == (400, 14)


def test_quiet_endpoints(client):
    stats = client.ok("server.report_stats_option", {}, version=V)
    assert stats["supported"] is False and stats["enabled"] is False and stats["current_version"] == "2.3.0"
    assert client.ok("server.report_stats_option", {"enabled": True}, version=V)["enabled"] is False
    body = {"only_fields": ["name", "comment", "company", "tags", "report", "project.name", "user.name", "status",
                            "last_update", "system_tags"], "order_by": ["-last_update"], "scroll_id": None, "size": 6,
            "system_tags": ["__$not", "archived"]}
    assert client.ok("reports.get_all_ex", body, version=V) == {"tasks": [], "scroll_id": None}
    assert client.ok("reports.get_all_ex", {}, version=V) == {"tasks": []}


def test_organization_and_project_tags(client, other_client):
    client.ok("projects.create", {"name": "tagged-one", "tags": ["vision", "team-a"]}, version="2.23")
    client.ok("projects.create", {"name": "tagged-two", "tags": ["nlp"], "system_tags": ["pipeline"]}, version="2.23")
    project = client.ok("projects.create", {"name": "tagged-three", "tags": ["audio"]}, version="2.23")["id"]
    client.ok("projects.create", {"name": "tagged-three/inner", "tags": ["deep"]}, version="2.23")
    client.ok("models.create", {"name": "model-x", "uri": "s3://b/x", "tags": ["prod"], "system_tags": ["archived"]},
              version="2.23")
    client.ok("tasks.create", {"name": "task-x", "type": "training", "tags": ["exp"]}, version="2.23")
    other_client.ok("models.create", {"name": "model-y", "uri": "s3://b/y", "tags": ["secret"]}, version="2.23")

    # the web app's body: pipelines, datasets and annotation projects left out
    tags = client.ok("projects.get_project_tags", {"filter": {"system_tags": ["-pipeline", "-dataset",
                                                                              "-Annotation"]}}, version=V)
    assert tags == {"tags": ["audio", "deep", "team-a", "vision"]}
    assert client.ok("projects.get_project_tags", {"projects": [project], "include_system": True},
                     version=V) == {"tags": ["audio", "deep"], "system_tags": []}

    assert client.ok("organization.get_tags", {}, version=V) == {"tags": ["exp", "prod"]}
    assert client.ok("organization.get_tags", {"include_system": True}, version=V) == {
        "tags": ["exp", "prod"], "system_tags": ["archived"]}
    assert client.ok("organization.get_tags", {"filter": {"system_tags": ["-archived"]}}, version=V) == {
        "tags": ["exp"]}
    assert other_client.ok("organization.get_tags", {}, version=V) == {"tags": ["secret"]}
    assert codes(client.error("organization.get_tags", {"filter": {"tags": [5]}}, version=V)) == (400, 12)
