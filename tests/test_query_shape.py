"""The flat filter document the query engine sends (database/query_shape.py): same answers as the `$and` of
its parts on the embedded server, merged and ordered so that the server can select candidates by index."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from database import query_shape

C = "c1"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_parts_merge_into_one_document_ordered_by_selectivity():
    flat = query_shape.flatten([
        {"company": {"$in": [C, ""]}},
        {"$and": [{"system_tags": {"$nin": ["archived"]}}, {"tags": {"$in": ["a"]}}, {"tags": {"$nin": ["b"]}}]},
        {"project": {"$in": ["p1"]}},
    ])
    assert flat == {"project": "p1", "tags": {"$in": ["a"], "$nin": ["b"]}, "system_tags": {"$nin": ["archived"]},
                    "company": {"$in": [C, ""]}}
    assert list(flat) == ["project", "tags", "system_tags", "company"]


def test_what_cannot_be_merged_stays_under_and():
    flat = query_shape.flatten([{"name": {"$regex": "a"}}, {"name": {"$regex": "b", "$options": "i"}},
                                {"$or": [{"x": 1}, {"y": 2}]}, {"ready": True}, {"ready": False}])
    assert flat == {"name": {"$regex": "a"}, "ready": True,
                    "$and": [{"name": {"$regex": "b", "$options": "i"}}, {"$or": [{"x": 1}, {"y": 2}]},
                             {"ready": False}]}
    # an equality and an operator share one expression as $eq
    assert query_shape.flatten([{"company": "c1"}, {"company": {"$nin": ["x"]}}]) == \
        {"company": {"$eq": "c1", "$nin": ["x"]}}


def test_one_value_in_becomes_equality_only_for_scalars():
    assert query_shape.flatten([{"tags": {"$in": ["a"]}}]) == {"tags": "a"}
    for kept in ({"$in": [None]}, {"$in": [[]]}, {"$in": [True]}, {"$in": ["a", "b"]}, {"$in": [{"k": 1}]}):
        assert query_shape.flatten([{"tags": kept}]) == {"tags": kept}


@pytest.fixture
def models(db):
    coll = db["models"]
    docs = []
    for n, (company, tags, system_tags, project) in enumerate(itertools.product(
            [C, "", "c2"], [[], ["a"], ["a", "b"], ["b"], None], [[], ["archived"]], ["p1", "p2", None])):
        doc = {"_id": f"m{n:03d}", "company": company, "system_tags": system_tags, "project": project,
               "created": T0.replace(minute=n % 60)}
        if tags is not None:
            doc["tags"] = tags
        docs.append(doc)
    coll.insert_many(docs)
    coll.create_index("project")
    coll.create_index("tags")
    coll.create_index([("company", 1), ("project", 1), ("tags", 1)])
    return coll


PARTS = [
    [{"company": {"$in": [C, ""]}}, {"project": {"$in": ["p1"]}}, {"tags": {"$in": ["a"]}},
     {"system_tags": {"$nin": ["archived"]}}],
    [{"company": C}, {"project": {"$in": ["p1"]}}, {"tags": {"$in": ["a"]}}],
    [{"company": {"$in": [C, ""]}}, {"tags": {"$in": ["a", None, []]}}, {"tags": {"$nin": ["b"]}}],
    [{"company": {"$in": [C, ""]}}, {"$and": [{"tags": {"$all": ["a", "b"]}}, {"project": {"$nin": [None]}}]}],
    [{"company": {"$in": [C, ""]}}, {"$or": [{"project": "p2"}, {"tags": "b"}]}, {"system_tags": {"$nin": ["x"]}}],
    [{"company": {"$in": [C, ""]}}, {"project": {"$in": ["p2"]}}, {"project": {"$in": ["p1", "p2"]}}],
]


@pytest.mark.parametrize("parts", PARTS)
def test_flat_document_finds_what_the_and_of_the_parts_finds(models, parts):
    def ids(query):
        return [d["_id"] for d in models.find(query).sort([("created", -1), ("_id", 1)])]

    expected = ids({"$and": parts})
    assert expected, "the case should match something"
    assert ids(query_shape.flatten(parts)) == expected
