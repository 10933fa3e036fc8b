"""database/tasks_db.py and database/projects_db.py on the real database (no dispatcher)."""

from __future__ import annotations

import pytest

from database import projects_db, tasks_db
from database.errors import QueryError


def _task(db, company="c1", status="created", inputs=(), outputs=()):
    doc = {
        "_id": tasks_db.new_id(), "company": company, "name": "task", "status": status, "last_iteration": 0,
        "models": {"input": [tasks_db.model_entry(None, m, "input") for m in inputs],
                   "output": [tasks_db.model_entry(n, m) for n, m in outputs]},
    }
    return tasks_db.insert_task(db, doc)


def test_replace_model_references(db):
    tasks_db.ensure_indexes(db)
    user = _task(db, company="other", inputs=["m1", "m2"])
    published = _task(db, status="published", outputs=[("a", "m0"), ("b", "m1")])
    draft = _task(db, outputs=[("a", "m1"), ("b", "m3")])
    assert tasks_db.tasks_using_model_as_input(db, "m1") == 1
    counts = tasks_db.replace_model_references(db, "m1")
    assert counts == {"inputs": 1, "published_outputs": 1, "pulled_outputs": 1}
    assert [e["model"] for e in tasks_db.get_task(db, "other", user["_id"])["models"]["input"]] == [
        "__DELETED__m1", "m2"]
    pub = tasks_db.get_task(db, "c1", published["_id"])
    assert [e["model"] for e in pub["models"]["output"]] == ["m0", "__DELETED__m1"]
    assert pub["output"]["error"].startswith("model deleted on ")
    assert [e["model"] for e in tasks_db.get_task(db, "c1", draft["_id"])["models"]["output"]] == ["m3"]
    assert tasks_db.tasks_using_model_as_input(db, "m1") == 0


def test_add_or_update_model_entry_upserts_by_name(db):
    task = _task(db)
    tasks_db.add_or_update_model_entry(db, task["_id"], "output", "w", "m1", iteration=5)
    tasks_db.add_or_update_model_entry(db, task["_id"], "output", "x", "m2")
    tasks_db.add_or_update_model_entry(db, task["_id"], "output", "w", "m3", iteration=2)
    doc = tasks_db.get_task(db, "c1", task["_id"])
    assert [(e["name"], e["model"]) for e in doc["models"]["output"]] == [("w", "m3"), ("x", "m2")]
    assert doc["last_iteration"] == 5
    assert tasks_db.output_model_id(doc) == "m2"
    tasks_db.bump_last_iteration(db, task["_id"], 9)
    assert tasks_db.get_task(db, "c1", task["_id"])["last_iteration"] == 9


def test_writable_task(db):
    public = _task(db, company="")
    with pytest.raises(QueryError) as info:
        tasks_db.get_writable_task(db, "c1", public["_id"])
    assert info.value.api_error == "NoWritePermission"
    with pytest.raises(QueryError) as info:
        tasks_db.get_writable_task(db, "c1", "nope")
    assert info.value.api_error == "InvalidTaskId"
    assert tasks_db.get_task(db, "c1", public["_id"])["_id"] == public["_id"]


def test_ensure_project_path_creates_parents(db):
    projects_db.ensure_indexes(db)
    pid = projects_db.ensure_project_path(db, "c1", "u1", "alpha/beta/gamma")
    doc = projects_db.get_project(db, "c1", pid)
    assert doc["name"] == "alpha/beta/gamma" and doc["basename"] == "gamma"
    alpha = projects_db.find_by_name(db, "c1", "alpha")
    beta = projects_db.find_by_name(db, "c1", "alpha/beta")
    assert doc["path"] == [alpha["_id"], beta["_id"]] and doc["parent"] == beta["_id"]
    assert projects_db.ensure_project_path(db, "c1", "u1", " alpha//beta/gamma ") == pid
    assert set(projects_db.descendant_ids(db, [alpha["_id"]])) == {beta["_id"], pid}
    with pytest.raises(QueryError) as info:
        projects_db.ensure_project_path(db, "c1", "u1", "alpha/xy")
    assert info.value.api_error == "DataValidationError"
    projects_db.create_project(db, "", "u1", "shared")
    with pytest.raises(QueryError) as info:
        projects_db.ensure_project_path(db, "c1", "u1", "shared")
    assert info.value.api_error == "PublicProjectExists"
    with pytest.raises(QueryError) as info:
        projects_db.create_project(db, "c1", "u1", "alpha/beta")
    assert info.value.api_error == "ExpectedUniqueData"
