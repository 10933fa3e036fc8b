"""A page and its total in one pass on the embedded server (database/query/counted.py): the same documents,
in the same order, and the same total as a sorted find and a count."""

from __future__ import annotations

import pytest

from database.query import counted

SORT = [("name", 1), ("_id", 1)]
PROJECTION = {"name": 1, "project": 1}


@pytest.fixture
def registered(db):
    coll = db["registered_models"]
    coll.insert_many([{"_id": f"r{n:03d}", "company": "c1" if n % 5 else "c2", "name": f"model {n % 7}",
                       "project": None if n % 3 else "p1", "alias_history": [{"alias": "a"}] * (n % 4)}
                      for n in range(60)])
    coll.create_index([("company", 1), ("name", 1), ("_id", 1)])
    return coll


@pytest.mark.parametrize("match", [{"company": "c1"}, {"company": "c1", "project": None}, {"company": "nobody"},
                                   {"company": "c1", "name": {"$regex": "MODEL 3", "$options": "i"}}])
@pytest.mark.parametrize("skip,limit", [(0, 20), (20, 20), (40, 20), (45, 1), (100, 20)])
def test_the_page_and_total_are_those_of_a_find_and_a_count(registered, match, skip, limit):
    docs, total = counted.page_and_total(registered, match, SORT, skip, limit, PROJECTION)
    assert docs == list(registered.find(match, PROJECTION).sort(SORT).skip(skip).limit(limit))
    assert total == registered.count_documents(match)
