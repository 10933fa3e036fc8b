"""Every listing reply is bounded in size (server.max_reply_bytes): a page/page_size page past it is
refused with a 400 saying what to ask for instead, a scrolled page is cut with a marker and the scroll
continues after it, and the documents past the bound are not read from the database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import MongoClient, monitoring

from database.collections.records_db import SPEC
from database.query import engine
from tests.helpers import COMPANY_A, COMPANY_B, app_with, codes, make_user

V = "2.99"
KB = 1024
BOUND = 1000 * KB


@pytest.fixture
def bounded(app_config, registry, db):
    with app_with(app_config, registry, {"server.max_reply_bytes": BOUND}) as application:
        yield application


def _big_records(db, model: str, count: int, size: int, company: str = COMPANY_A) -> None:
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    db["records"].insert_many([
        {"_id": uuid.uuid4().hex, "company": company, "user": "u", "model": model, "site": f"s{i:02d}",
         "timestamp": when + timedelta(seconds=i), "data": {"i": i, "blob": "x" * size}} for i in range(count)])


@pytest.fixture
def alice(bounded):
    return make_user(bounded, "alice", COMPANY_A, role="admin")


@pytest.fixture
def model(alice, db):
    model = alice.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
    _big_records(db, model, 10, 300 * KB)  # 3 fit under the bound
    return model


def test_a_page_past_the_bound_is_refused_with_what_to_ask_instead(alice, model):
    meta = alice.error("records.get_all", {"page": 0, "page_size": 10}, version=V)
    assert codes(meta) == (400, 1201)
    assert "server.max_reply_bytes" in meta["result_msg"] and "page_size (at most 3)" in meta["result_msg"]
    assert "only_fields" in meta["result_msg"]
    # what the message says to ask for is served
    assert len(alice.ok("records.get_all", {"page": 0, "page_size": 3}, version=V)["records"]) == 3
    narrow = alice.ok("records.get_all", {"page_size": 10, "only_fields": ["site"]}, version=V)["records"]
    assert [r["site"] for r in narrow] == [f"s{i:02d}" for i in range(10)]
    assert "page_cut" not in alice.ok("records.get_all", {"page_size": 3}, version=V)


@pytest.mark.parametrize("order_by", [["timestamp"], ["site", "timestamp"]])  # a plain find; an aggregation
def test_a_scrolled_page_is_cut_and_the_scroll_continues_after_it(alice, model, order_by):
    seen, pages, scroll = [], [], ""
    while True:
        reply = alice.ok("records.get_all", {"scroll_id": scroll, "size": 10, "order_by": order_by}, version=V)
        if not reply["records"]:
            break
        pages.append(reply)
        seen += [r["data"]["i"] for r in reply["records"]]
        scroll = reply["scroll_id"]
    assert seen == list(range(10))  # every record once, in order
    assert [len(p["records"]) for p in pages] == [3, 3, 3, 1]
    assert pages[0]["page_cut"] == {"resource": "records", "returned": 3, "max_reply_bytes": BOUND}
    assert "page_cut" not in pages[-1]


def test_an_item_alone_past_the_bound_is_refused_naming_only_fields(alice, model, db):
    _big_records(db, "lone", 1, 2 * BOUND)
    meta = alice.error("records.get_all", {"model": ["lone"], "scroll_id": "", "size": 5}, version=V)
    assert codes(meta) == (400, 1201) and "one item alone" in meta["result_msg"]
    # another company's listings are not affected
    bob = make_user(alice.app, "bob", COMPANY_B, role="admin")
    assert bob.ok("records.get_all", {}, version=V)["records"] == []


class _Delivered(monitoring.CommandListener):
    """Counts the documents the database sent in reply to finds, aggregations and their getMores."""

    def __init__(self):
        self.documents = 0

    def started(self, event):
        pass

    def succeeded(self, event):
        cursor = event.reply.get("cursor") if hasattr(event.reply, "get") else None
        if cursor:
            self.documents += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event):
        pass


def test_documents_past_the_bound_are_not_read(mongo_uri, db):
    """A page of 12 records of 3 MB under an 8 MB bound: 2 are kept and the reading stops within the
    database's first batch (at most 16 MiB), instead of taking in all 36 MB."""
    _big_records(db, "m", 12, 3000 * KB, company="c")
    delivered = _Delivered()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[delivered])
    try:
        for order_by in (["timestamp"], ["site", "timestamp"]):  # a plain find; an aggregation
            delivered.documents = 0
            _read_past_the_bound(client[db.name]["records"], order_by, delivered)
    finally:
        client.close()


def _read_past_the_bound(records, order_by: list, delivered: _Delivered) -> None:
    data = {"page_size": 12, "order_by": order_by}
    bound = 8000 * KB  # 2 records fit
    with pytest.raises(engine.ReplyTooLarge):
        engine.find_page(records, SPEC, data, {"company": "c"}, max_reply_bytes=bound)
    assert 0 < delivered.documents <= 6  # what one reply of the database holds at most
    delivered.documents = 0
    docs, _ = engine.find_page(records, SPEC, {**data, "scroll_id": "", "size": 12}, {"company": "c"},
                              max_reply_bytes=bound)
    assert docs.cut and [d["data"]["i"] for d in docs] == [0, 1]
    assert 0 < delivered.documents <= 6
    delivered.documents = 0
    docs, _ = engine.find_page(records, SPEC, data, {"company": "c"})  # unbounded: all of them
    assert len(docs) == 12 and not docs.cut and delivered.documents == 12
