"""An update answering the document as it was just before it (database/collections/replaced.py): exact
under concurrent updates of one document, on the embedded server as on MongoDB; with a projection, an
upsert, and nothing matched."""

from __future__ import annotations

import threading
import uuid

from database.collections.replaced import find_one_and_update_before

THREADS, EACH = 8, 25


def test_concurrent_updates_each_answer_what_they_replaced(db):
    collection = db[f"replaced_{uuid.uuid4().hex[:8]}"]
    collection.insert_one({"_id": "counter", "n": 0, "holder": None, "other": "kept"})
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def work(me: str) -> None:
        for _ in range(EACH):
            before = find_one_and_update_before(collection, {"_id": "counter"},
                                                {"$inc": {"n": 1}, "$set": {"holder": me}},
                                                projection={"n": 1, "holder": 1})
            with lock:
                answers.append((before["n"], before["holder"]))

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # every update saw a different state, and together they saw every state from the first on
    assert sorted(n for n, _ in answers) == list(range(THREADS * EACH))
    final = collection.find_one({"_id": "counter"})
    assert final["n"] == THREADS * EACH and final["other"] == "kept"


def test_a_projection_an_upsert_and_no_match(db):
    collection = db[f"replaced_{uuid.uuid4().hex[:8]}"]
    assert find_one_and_update_before(collection, {"_id": "a"}, {"$set": {"v": 1}}) is None
    assert collection.count_documents({}) == 0
    assert find_one_and_update_before(collection, {"_id": "a"}, {"$set": {"v": 1}, "$setOnInsert": {"w": 2}},
                                      upsert=True) is None
    assert collection.find_one({"_id": "a"}) == {"_id": "a", "v": 1, "w": 2}
    before = find_one_and_update_before(collection, {"_id": "a"}, {"$set": {"v": 3}}, projection={"v": 1})
    assert before == {"_id": "a", "v": 1}
    assert find_one_and_update_before(collection, {"_id": "a"}, {"$unset": {"w": ""}}) == {"_id": "a", "v": 3, "w": 2}
    assert collection.find_one({"_id": "a"}) == {"_id": "a", "v": 3}
    # the caller's projection as pymongo applies it: an exclusion, `_id` left out, a field it lacks
    collection.update_one({"_id": "a"}, {"$set": {"big": "x" * 100, "sub": {"k": 1}}})
    assert find_one_and_update_before(collection, {"_id": "a"}, {"$inc": {"v": 1}}, projection={"big": 0}) == {
        "_id": "a", "v": 3, "sub": {"k": 1}}
    assert find_one_and_update_before(collection, {"_id": "a"}, {"$inc": {"v": 1}},
                                      projection={"_id": 0, "sub.k": 1, "none": 1}) == {"sub": {"k": 1}}
    assert collection.find_one({"_id": "a"})["v"] == 5
