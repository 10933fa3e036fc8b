"""Projections applied to a page's documents by the query engine instead of the embedded server
(database/query/local_projection.py): the same documents, fields and reply-bound cuts as the database's own
projection, which is the reference here (sent straight through pymongo)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from bson import decode, encode
from bson.raw_bson import RawBSONDocument

from database import connection
from database.query import engine, local_projection
from tests.helpers import schema_specs

SPEC = schema_specs()["models"]
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def models(db):
    coll = db["models"]
    coll.insert_many([
        {"_id": f"m{n}", "company": "c1", "name": f"model {n}", "created": T0, "tags": ["a"] if n % 2 else [],
         "ui_cache": {"blob": "x" * (200 * n)}, "company_origin": "c0", "alias_seq": n, "metadata": {},
         "labels": {"cat": n}, **({"comment": "c" * 50} if n % 3 else {})}
        for n in range(6)])
    return coll


PROJECTIONS = [
    None,
    ["name", "created"],
    ["id", "name", "labels"],
    ["-ui_cache", "-comment"],
    ["name", "comment"],  # a field some documents lack
]


@pytest.mark.parametrize("only_fields", PROJECTIONS)
def test_a_page_has_the_fields_the_databases_projection_gives(models, only_fields):
    projection = engine.build_projection(SPEC, only_fields)
    docs, _ = engine.find_page(models, SPEC, {"order_by": ["name"], **({"only_fields": only_fields} if only_fields
                                                                       else {})})
    reference = [engine.to_api(d) for d in models.find({}, projection or None).sort([("name", 1), ("_id", 1)])]
    assert [dict(d) for d in docs] == reference
    assert all(list(d) == list(r) for d, r in zip(docs, reference, strict=True))  # field order kept


def test_only_the_embedded_server_is_sent_no_projection(db):
    sent, local = local_projection.split(db, {"ui_cache": 0})
    if connection.is_embedded(db):
        assert sent is None and local is not None
    else:
        assert sent == {"ui_cache": 0} and local is None
    # a nested path is the database's to project, everywhere
    assert local_projection.split(db, {"metadata.acc": 1, "_id": 0}) == ({"metadata.acc": 1, "_id": 0}, None)


@pytest.mark.parametrize("projection", [{"ui_cache": 0, "company_origin": 0}, {"name": 1, "labels": 1, "_id": 0},
                                        {"name": 1, "comment": 1}, {"nothing": 0},
                                        # most fields kept: counted from the fields left out
                                        {"name": 1, "created": 1, "tags": 1, "ui_cache": 1, "company": 1,
                                         "labels": 1, "metadata": 1, "comment": 1}])
def test_the_size_counted_is_the_size_the_database_sends(models, projection):
    local = local_projection.Local(projection)
    raw = models.with_options(codec_options=models.codec_options.with_options(document_class=RawBSONDocument))
    for doc in raw.find({}):
        sent = models.find_one({"_id": doc["_id"]}, projection)
        assert local.size(decode(doc.raw, models.codec_options), len(doc.raw)) == len(encode(sent))


def test_a_bounded_page_is_cut_at_the_same_document(models):
    """Documents with 0, 0.2, 0.4, ... 1 KB of ui_cache: a bound of 1,200 bytes holds the page of names
    whole (the ui_cache left out is not counted, as the database's projection would not send it) and cuts
    the page of names and ui_caches where the database's projection would."""
    data = {"order_by": ["name"], "only_fields": ["name"], "scroll_id": None, "size": 6}
    docs, _ = engine.find_page(models, SPEC, data, company="c1", max_reply_bytes=1200)
    assert [d["name"] for d in docs] == [f"model {n}" for n in range(6)] and not docs.cut
    fields = ["name", "ui_cache"]
    docs, _ = engine.find_page(models, SPEC, {**data, "only_fields": fields}, company="c1", max_reply_bytes=1200)
    assert docs.cut and 0 < len(docs) < 6
    expected, total = [], 0
    for doc in models.find({}, engine.build_projection(SPEC, fields)).sort([("name", 1), ("_id", 1)]):
        total += len(encode(doc))
        if total > 1200:
            break
        expected.append(doc["name"])
    assert [d["name"] for d in docs] == expected


@pytest.mark.parametrize("bound", [900, 1300, 1700, 2400, 3500, 5000])
def test_a_page_without_hidden_fields_is_cut_where_the_databases_projection_would_be(models, bound):
    """The default projection leaves the hidden fields out (ui_cache of up to 1 KB here): raw sizes bound
    the page until they reach the bound, projected sizes from there, so a bound between the two totals
    still holds documents the raw sizes would have cut."""
    projection = engine.build_projection(SPEC, None)
    assert projection and "ui_cache" in projection
    expected, total = [], 0
    for doc in models.find({}, projection).sort([("name", 1), ("_id", 1)]):
        total += len(encode(doc))
        if total > bound:
            break
        expected.append(engine.to_api(doc))
    docs, _ = engine.find_page(models, SPEC, {"order_by": ["name"], "scroll_id": None, "size": 6}, company="c1",
                               max_reply_bytes=bound)
    assert [dict(d) for d in docs] == expected
    assert docs.cut == (len(expected) < 6)
