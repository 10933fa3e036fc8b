"""The registry's pages by name through counted name ranges (database/collections/registered_ranges_db.py):
every page and the total are those of a sorted find and a count, after names are added, after a count
went wrong, across cuts of full ranges, and with writers and readers at once."""

from __future__ import annotations

import json
import random
import re
import threading
import uuid

import pytest

from database.collections import registered_ranges_db as ranges
from database.migrations import m0004_registered_name_ranges

PROJECTION = {"name": 1, "project": 1}
ORDER = [("name", 1), ("_id", 1)]


def register(db, company: str, names: list[str], *, counted: bool = False) -> None:
    """Registered models as models.create leaves them (`counted`: each one counted as `ensure` counts it)."""
    docs = [{"_id": uuid.uuid4().hex, "company": company, "project": random.choice([None, "p1", "p2"]), "name": n,
             "aliases": {}, "last_version": 1} for n in names]
    db[ranges.REGISTERED_MODELS].insert_many(docs)
    if counted:
        for doc in docs:
            ranges.added(db, company, doc["name"], doc["_id"])


def expected(db, company: str, skip: int, limit: int) -> list[dict]:
    return list(db[ranges.REGISTERED_MODELS].find({"company": company}, {**PROJECTION, "name": 1}).sort(ORDER)
                .skip(skip).limit(limit))


def assert_every_page(db, company: str, size: int, *, totals: bool = True) -> None:
    """Every page in order is the sorted find's (`totals`: with the exact total; a total is only exact once
    every range that was wrong has been read)."""
    total = db[ranges.REGISTERED_MODELS].count_documents({"company": company})
    for skip in range(0, total + size, size):
        docs, counted = ranges.page(db, company, skip, size, PROJECTION)
        assert docs == expected(db, company, skip, size), f"page at {skip}"
        assert counted == total or not totals


def stored_counts(db, company: str) -> list[tuple[str, int]]:
    return [(r["lo"], r["n"]) for r in db[ranges.RANGES].find({"company": company}).sort("lo", 1)]


def assert_entries_exact(db, company: str) -> None:
    """Each range lists exactly the registered models its count counts."""
    stored = [(r["n"], json.loads("[" + r["entries"][1:] + "]")) for r in db[ranges.RANGES].find({"company": company})]
    assert all(n == len(entries) for n, entries in stored)
    listed = sorted(tuple(e) for _, entries in stored for e in entries)
    assert listed == [(d["name"], d["_id"]) for d in db[ranges.REGISTERED_MODELS].find({"company": company})
                      .sort(ORDER)]


def expected_search(db, company: str, text: str, skip: int, limit: int) -> tuple[list[dict], int]:
    match = {"company": company, "name": {"$regex": re.escape(text), "$options": "i"}}
    coll = db[ranges.REGISTERED_MODELS]
    return list(coll.find(match, PROJECTION).sort(ORDER).skip(skip).limit(limit)), coll.count_documents(match)


def true_counts(db, company: str) -> list[int]:
    bounds = [lo for lo, _ in stored_counts(db, company)] + [None]
    out = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        name = {"$gte": lo, **({"$lt": hi} if hi is not None else {})}
        out.append(db[ranges.REGISTERED_MODELS].count_documents({"company": company, "name": name}))
    return out


@pytest.fixture
def registry(db):
    ranges.ensure_indexes(db)
    db[ranges.REGISTERED_MODELS].create_index([("company", 1), ("name", 1), ("_id", 1)])
    names = [f"model-{n:05d}" for n in random.sample(range(100_000), 1_100)]
    names += ["shared name"] * 300  # one name in many projects: never split between two ranges
    register(db, "c1", names)
    register(db, "c2", [f"other-{n}" for n in range(30)])
    ranges.rebuild(db, "c1")
    return db


def test_every_page_and_the_total_are_those_of_a_sorted_find(registry):
    assert_entries_exact(registry, "c1")
    counts = stored_counts(registry, "c1")
    assert len(counts) >= 5 and counts[0][0] == "" and max(n for _, n in counts) <= ranges.MOST
    assert [n for _, n in counts] == true_counts(registry, "c1")
    assert_every_page(registry, "c1", 100)
    for skip in (0, 255, 256, 257, 1_099, 1_100, 1_399, 1_400, 5_000):
        docs, total = ranges.page(registry, "c1", skip, 1, PROJECTION)
        assert docs == expected(registry, "c1", skip, 1) and total == 1_400


@pytest.mark.parametrize("text", ["model-0004", "MODEL-000", "Shared", "a", "nothing like it", "(."])
def test_a_search_is_that_of_a_sorted_find_with_a_literal_pattern(registry, text):
    for skip, limit in ((0, 20), (20, 20), (1_390, 20)):
        assert ranges.search(registry, "c1", text, skip, limit, PROJECTION) == expected_search(
            registry, "c1", text, skip, limit)


def test_companies_are_counted_apart(registry):
    docs, total = ranges.page(registry, "c2", 0, 100, PROJECTION)
    assert total == 30 and [d["name"] for d in docs] == sorted(f"other-{n}" for n in range(30))
    assert ranges.page(registry, "nobody", 0, 10, PROJECTION) == ([], 0)
    assert ranges.search(registry, "c2", "model", 0, 10, PROJECTION) == ([], 0)
    assert ranges.search(registry, "c2", "OTHER-1", 0, 100, PROJECTION)[1] == 11


def test_a_wrong_count_is_set_right_by_the_reads(registry):
    counts = stored_counts(registry, "c1")
    # as a crash between creating a registered model and counting it would leave them
    registry[ranges.RANGES].update_one({"company": "c1", "lo": counts[1][0]}, {"$inc": {"n": 7}})
    registry[ranges.RANGES].update_one({"company": "c1", "lo": counts[3][0]}, {"$inc": {"n": -4}})
    before = counts[0][1]
    docs, _ = ranges.page(registry, "c1", before + 10, 50, PROJECTION)  # starts inside the second range
    assert docs == expected(registry, "c1", before + 10, 50)
    assert stored_counts(registry, "c1")[1][1] == counts[1][1]
    assert_every_page(registry, "c1", 100, totals=False)  # reading every page once sets every count right
    assert [n for _, n in stored_counts(registry, "c1")] == true_counts(registry, "c1")
    assert_entries_exact(registry, "c1")
    assert_every_page(registry, "c1", 100)


def test_names_added_are_counted_and_a_full_range_is_cut(registry):
    first = stored_counts(registry, "c1")
    # 300 names that all fall in the first range, each counted as it is created
    register(registry, "c1", [f"a-{n:04d}" for n in range(300)], counted=True)
    assert stored_counts(registry, "c1")[0][1] == first[0][1] + 300
    docs, total = ranges.page(registry, "c1", 0, 20, PROJECTION)
    assert docs == expected(registry, "c1", 0, 20) and total == 1_700
    after = stored_counts(registry, "c1")
    assert len(after) > len(first) and max(n for _, n in after) <= ranges.MOST
    assert [n for _, n in after] == true_counts(registry, "c1")
    assert_entries_exact(registry, "c1")
    assert_every_page(registry, "c1", 100)
    assert ranges.search(registry, "c1", "A-02", 0, 200, PROJECTION) == expected_search(registry, "c1", "A-02", 0, 200)


def test_a_company_without_ranges_gets_them_at_its_first_page(registry):
    registry[ranges.RANGES].delete_many({"company": "c1"})  # registered models loaded around the API
    assert ranges.search(registry, "c1", "shared", 0, 5, PROJECTION) == expected_search(registry, "c1", "shared", 0, 5)
    registry[ranges.RANGES].delete_many({"company": "c1"})
    assert_every_page(registry, "c1", 250)
    assert sum(n for _, n in stored_counts(registry, "c1")) == 1_400


def test_the_first_registered_model_of_a_company_opens_its_ranges(db):
    ranges.ensure_indexes(db)
    register(db, "c9", ["zeta", "alpha"], counted=True)
    assert stored_counts(db, "c9") == [("", 2)]
    assert [d["name"] for d in ranges.page(db, "c9", 0, 10, PROJECTION)[0]] == ["alpha", "zeta"]


def test_any_name_is_stored_and_found(db):
    ranges.ensure_indexes(db)
    names = ['a "quoted", [bracketed] name\\', "tab\tand\nnewline", "ünïcödé 模型", "$dollar", ",[lead"]
    register(db, "c8", names, counted=True)
    assert_entries_exact(db, "c8")
    for text in ('"QUOTED", [', "\n", "模型", "$", ",["):
        assert ranges.search(db, "c8", text, 0, 10, PROJECTION) == expected_search(db, "c8", text, 0, 10)
    ranges.rebuild(db, "c8")
    assert_entries_exact(db, "c8")
    assert_every_page(db, "c8", 2)


def test_the_upgrade_step_makes_the_ranges_of_every_company(registry):
    registry[ranges.RANGES].delete_many({})
    m0004_registered_name_ranges.migrate(registry)
    assert sum(n for _, n in stored_counts(registry, "c1")) == 1_400
    assert stored_counts(registry, "c2") == [("", 30)]


def test_writers_and_readers_at_once_end_with_exact_pages(registry):
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for chunk in range(3):
                register(registry, "c1", [f"{prefix}-{chunk}-{n:03d}" for n in range(30)], counted=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def reader() -> None:
        try:
            for skip in range(0, 1_800, 200):
                docs, total = ranges.page(registry, "c1", skip, 30, PROJECTION)
                assert len(docs) <= 30 and total >= 1_400
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    # every name in the first range, so it is cut while it is written to
    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a1", "a2", "a3")] + [
        threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    # once the writes have landed, one read of every page leaves every count exact and every page right
    assert_every_page(registry, "c1", 100, totals=False)
    after = stored_counts(registry, "c1")
    assert [n for _, n in after] == true_counts(registry, "c1") and max(n for _, n in after) <= ranges.MOST
    assert_entries_exact(registry, "c1")
    assert_every_page(registry, "c1", 100)
