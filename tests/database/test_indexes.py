"""Which indexes a collection gets (database/indexes.py): on the embedded server the ones only MongoDB's
planner reads are left out, and dropped from data made while they were built, while what its own planner
reads stays."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING

from database import connection, indexes
from database.collections import models_db, tasks_db


def _names(collection) -> set[str]:
    return set(collection.index_information())


def test_the_test_database_is_the_embedded_server(db):
    assert connection.is_embedded(db)  # the cases below are the embedded server's


def test_an_index_only_mongodb_reads_is_not_built_and_a_built_one_is_dropped(db):
    coll = db["things"]
    keys = [("company", ASCENDING), ("user", ASCENDING)]
    indexes.ensure_index(coll, keys, mongodb_only=True)
    assert "company_1_user_1" not in _names(coll)
    coll.create_index(keys)  # as an earlier release built it
    coll.create_index([("company", ASCENDING), ("name", ASCENDING)], name="by_name")
    indexes.ensure_index(coll, keys, mongodb_only=True)
    indexes.ensure_index(coll, [("company", ASCENDING), ("name", ASCENDING)], mongodb_only=True, name="by_name")
    assert _names(coll) == {"_id_"}
    indexes.ensure_index(coll, keys)
    assert "company_1_user_1" in _names(coll)


def test_index_names_are_those_mongodb_gives(db):
    coll = db["named"]
    keys = [("company", ASCENDING), ("last_update", -1)]
    coll.create_index(keys)
    assert indexes.index_name(keys) in _names(coll)


@pytest.mark.parametrize(("module", "collection", "earlier", "kept"), [
    (models_db, models_db.MODELS, "company_1_user_1", {
        "parent_1", "project_1", "task_1", "tags_1", "last_update_1", "company_1_project_1_tags_1",
        "company_1_project_1_framework_1", "company_1_created_1", "company_1_project_1_name_1_version_1"}),
    (tasks_db, tasks_db.TASKS, "company_1_status_1", {
        "company_1_project_1", "company_1_last_update_-1", "parent_1", "models.input.model_1",
        "models.output.model_1"}),
])
def test_models_and_tasks_keep_what_the_embedded_planner_reads(db, module, collection, earlier, kept):
    coll = db[collection]
    field = earlier.split("_1_")[1].removesuffix("_1")
    coll.create_index([("company", ASCENDING), (field, ASCENDING)])  # built by an earlier release
    module.ensure_indexes(db)
    assert _names(coll) == kept | {"_id_"}

