"""The tasks and projects collections (database/collections/) through the scoped layer, on the real database."""

from __future__ import annotations

import pytest

from database import ids
from database.collections import projects_db, tasks_db
from database.collections.scope import Scope
from database.errors import QueryError
from services import errors, failures


def _task(db, company="c1", status="created", inputs=(), outputs=()):
    doc = {
        "_id": ids.new_id(), "name": "task", "status": status, "last_iteration": 0,
        "models": {"input": [tasks_db.model_entry(None, m, "input") for m in inputs],
                   "output": [tasks_db.model_entry(n, m) for n, m in outputs]},
    }
    return Scope(db, company).tasks.insert(doc)


def test_replace_model_references_reaches_every_company(db):
    tasks_db.ensure_indexes(db)
    user = _task(db, company="other", inputs=["m1", "m2"])
    published = _task(db, status="published", outputs=[("a", "m0"), ("b", "m1")])
    draft = _task(db, outputs=[("a", "m1"), ("b", "m3")])
    tasks = Scope(db, "c1").tasks
    assert tasks.count_using_model_as_input({"_id": "m1", "company": ""}) == 1  # public: every company counts
    assert tasks.count_using_model_as_input({"_id": "m1", "company": "c1"}) == 0  # private: its company only
    counts = tasks.replace_model_references("m1")
    assert counts == {"inputs": 1, "published_outputs": 1, "pulled_outputs": 1}
    assert [e["model"] for e in Scope(db, "other").tasks.get(user["_id"])["models"]["input"]] == [
        "__DELETED__m1", "m2"]
    assert tasks.get(user["_id"]) is None  # another company's task stays out of sight
    pub = tasks.get(published["_id"])
    assert [e["model"] for e in pub["models"]["output"]] == ["m0", "__DELETED__m1"]
    assert pub["output"]["error"].startswith("model deleted on ")
    assert [e["model"] for e in tasks.get(draft["_id"])["models"]["output"]] == ["m3"]
    assert tasks.count_using_model_as_input({"_id": "m1", "company": ""}) == 0


def test_add_or_update_model_entry_upserts_by_name(db):
    task = _task(db)
    tasks = Scope(db, "c1").tasks
    tasks.add_or_update_model_entry(task["_id"], "output", "w", "m1", iteration=5)
    tasks.add_or_update_model_entry(task["_id"], "output", "x", "m2")
    tasks.add_or_update_model_entry(task["_id"], "output", "w", "m3", iteration=2)
    doc = tasks.get(task["_id"])
    assert [(e["name"], e["model"]) for e in doc["models"]["output"]] == [("w", "m3"), ("x", "m2")]
    assert doc["last_iteration"] == 5
    assert tasks_db.output_model_id(doc) == "m2"
    tasks.bump_last_iteration(task["_id"], 9)
    assert tasks.get(task["_id"])["last_iteration"] == 9
    Scope(db, "c2").tasks.add_or_update_model_entry(task["_id"], "output", "z", "m9")  # not c2's task
    Scope(db, "c2").tasks.bump_last_iteration(task["_id"], 99)
    doc = tasks.get(task["_id"])
    assert [e["name"] for e in doc["models"]["output"]] == ["w", "x"] and doc["last_iteration"] == 9


def test_writable_task(db):
    public = _task(db, company="")
    tasks = Scope(db, "c1").tasks
    with pytest.raises(QueryError) as info:
        tasks.writable_task(public["_id"])
    assert type(failures.from_query_error(info.value)) is errors.NoWritePermission
    with pytest.raises(QueryError) as info:
        tasks.writable_task("nope")
    assert type(failures.from_query_error(info.value)) is errors.InvalidTaskId
    assert tasks.get(public["_id"])["_id"] == public["_id"]
    assert tasks.get(public["_id"], allow_public=False) is None


def test_ensure_project_path_creates_parents(db):
    projects_db.ensure_indexes(db)
    projects = Scope(db, "c1").projects
    pid = projects.ensure_project_path("u1", "alpha/beta/gamma")
    doc = projects.get(pid)
    assert doc["name"] == "alpha/beta/gamma" and doc["basename"] == "gamma"
    alpha = projects.find_by_name("alpha")
    beta = projects.find_by_name("alpha/beta")
    assert doc["path"] == [alpha["_id"], beta["_id"]] and doc["parent"] == beta["_id"]
    assert projects.ensure_project_path("u1", " alpha//beta/gamma ") == pid
    assert set(projects.descendant_ids([alpha["_id"]])) == {beta["_id"], pid}
    with pytest.raises(QueryError) as info:
        projects.ensure_project_path("u1", "alpha/xy")
    assert type(failures.from_query_error(info.value)) is errors.DataValidationError
    Scope(db, "").projects.create_project("u1", "shared")
    with pytest.raises(QueryError) as info:
        projects.ensure_project_path("u1", "shared")
    assert type(failures.from_query_error(info.value)) is errors.PublicProjectExists
    with pytest.raises(QueryError) as info:
        projects.create_project("u1", "alpha/beta")
    assert type(failures.from_query_error(info.value)) is errors.ExpectedUniqueData
    assert Scope(db, "c2").projects.find_by_name("alpha") is None
