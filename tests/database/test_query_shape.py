"""The flat filter document the query engine sends (database/query/shape.py): same answers as the `$and` of
its parts on the embedded server, merged and ordered by the collection's declared ranking so that the server
can select candidates by index."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest

from database import connection
from database.collections import models_db
from database.query import shape

C = "c1"
MODELS = (models_db.SPEC.narrow_first, models_db.SPEC.wide_last)
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_parts_merge_into_one_document_ordered_by_selectivity():
    flat = shape.flatten([
        {"company": {"$in": [C, ""]}},
        {"$and": [{"system_tags": {"$nin": ["archived"]}}, {"tags": {"$in": ["a"]}}, {"tags": {"$nin": ["b"]}}]},
        {"project": {"$in": ["p1"]}},
    ], *MODELS)
    assert flat == {"project": "p1", "tags": {"$in": ["a"], "$nin": ["b"]}, "system_tags": {"$nin": ["archived"]},
                    "company": {"$in": [C, ""]}}
    assert list(flat) == ["project", "tags", "system_tags", "company"]


def test_what_cannot_be_merged_stays_under_and():
    flat = shape.flatten([{"name": {"$regex": "a"}}, {"name": {"$regex": "b", "$options": "i"}},
                                {"$or": [{"x": 1}, {"y": 2}]}, {"ready": True}, {"ready": False}])
    assert flat == {"name": {"$regex": "a"}, "ready": True,
                    "$and": [{"name": {"$regex": "b", "$options": "i"}}, {"$or": [{"x": 1}, {"y": 2}]},
                             {"ready": False}]}
    # an equality and an operator share one expression as $eq
    assert shape.flatten([{"company": "c1"}, {"company": {"$nin": ["x"]}}]) == \
        {"company": {"$eq": "c1", "$nin": ["x"]}}


def test_one_value_in_becomes_equality_only_for_scalars():
    assert shape.flatten([{"tags": {"$in": ["a"]}}]) == {"tags": "a"}
    for kept in ({"$in": [None]}, {"$in": [[]]}, {"$in": [True]}, {"$in": ["a", "b"]}, {"$in": [{"k": 1}]}):
        assert shape.flatten([{"tags": kept}]) == {"tags": kept}


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
    assert ids(shape.flatten(parts)) == expected


def test_a_collections_narrowest_fields_lead_after_the_id():
    flat = shape.flatten([{"company": C}, {"model": "m1", "season": "s1", "other": 1, "wide": 2},
                          {"site": "x", "_id": "r1"}],
                         narrow_first=("site", "season", "model"), wide_last=("wide",))
    assert list(flat) == ["_id", "site", "season", "model", "other", "wide", "company"]


def test_a_records_filter_on_several_fields_selects_candidates_by_the_narrowest_index(db):
    """The embedded server uses the index led by the first clause's field: records filtered on a model,
    a site and a season are found through the site's index (a twentieth of the model), not the model's."""
    from database.collections import records_db

    records_db.ensure_indexes(db)
    docs = [{"_id": f"r{i:04d}", "company": C, "model": "m1", "site": f"s{i % 20}", "season": f"q{i % 4}",
             "timestamp": T0.replace(minute=i % 60, second=i // 60)} for i in range(2000)]
    db["records"].insert_many(docs)
    match = records_db.Records(db, C).stream_filter({"model": ["m1"], "season": ["q3"], "site": "s3"})
    # MongoDB plans from its indexes, whatever the order: there the filter goes as built
    as_built = ["model", "season", "site", "company"]
    assert list(match) == (["site", "season", "model", "company"] if connection.is_embedded(db) else as_built)
    found = list(db["records"].find(match).sort([("timestamp", 1), ("_id", 1)]))
    assert [d["_id"] for d in found] == sorted(
        (d["_id"] for d in docs if d["site"] == "s3" and d["season"] == "q3"),
        key=lambda i: (T0.replace(minute=int(i[1:]) % 60, second=int(i[1:]) // 60), i))
    # each index of a filter field is led by that field
    for name, info in db["records"].index_information().items():
        keys = [k for k, _ in info["key"]]
        assert name == "_id_" or keys[0] in records_db.SPEC.narrow_first or keys[:2] == ["company", "timestamp"]


def test_a_pattern_of_a_narrow_field_goes_after_the_narrow_fields_with_equalities():
    """No index serves a `$regex` on the embedded server: the tag it can ride is planned first."""
    flat = shape.flatten([{"company": {"$in": [C, ""]}}, {"name": {"$regex": "^bench-"}, "tags": "nlp"}], *MODELS)
    assert list(flat) == ["tags", "name", "company"]
    exact = shape.flatten([{"company": C}, {"name": "exact", "tags": "nlp"}], *MODELS)
    assert list(exact) == ["name", "tags", "company"]
