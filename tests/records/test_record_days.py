"""Where a model's records lie in time (database/collections/record_days_db.py): per-day counts, and per
collection date the first and last timestamp of the records added with it, across adds and months."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from database.collections import record_days_db
from tests.helpers import COMPANY_A, COMPANY_B

MODEL = "m" * 32
T0 = datetime(2024, 1, 31, 22, tzinfo=timezone.utc)


def _add(db, company: str, pairs: list[tuple[str, datetime]]) -> None:
    record_days_db.count_days(db, company, MODEL, Counter(when.date() for _, when in pairs), pairs)


def test_spans_of_collection_dates_across_adds_and_months(db):
    record_days_db.ensure_indexes(db)
    # one collection date's records on both sides of a month's end, in two adds, out of order
    _add(db, COMPANY_A, [("2024-01-31", T0 + timedelta(hours=3)), ("2024-01-31", T0 + timedelta(minutes=5))])
    _add(db, COMPANY_A, [("2024-01-31", T0), ("2024-02-10", T0 + timedelta(days=10))])
    _add(db, COMPANY_B, [("2024-01-31", T0 - timedelta(days=30))])  # another company's
    span = record_days_db.date_span(db, COMPANY_A, MODEL, "2024-01-31")
    assert span == (T0, T0 + timedelta(hours=3))
    assert record_days_db.date_span(db, COMPANY_A, MODEL, ["2024-01-31"]) is None  # not a condition it reads
    both = {"$in": ["2024-01-31", "2024-02-10"]}
    assert record_days_db.date_span(db, COMPANY_A, MODEL, both) == (T0, T0 + timedelta(days=10))
    ranged = {"$gte": "2024-02-01", "$lt": "2024-03-01"}
    assert record_days_db.date_span(db, COMPANY_A, MODEL, ranged) == (T0 + timedelta(days=10),) * 2
    assert record_days_db.date_span(db, COMPANY_A, MODEL, "2024-05-05") is None  # none noted
    counts = record_days_db.day_counts(db, COMPANY_A, MODEL)
    assert counts == Counter({T0.date(): 2, (T0 + timedelta(hours=3)).date(): 1,
                              (T0 + timedelta(days=10)).date(): 1})


def test_a_rebuild_notes_what_the_records_hold_exactly(db):
    record_days_db.ensure_indexes(db)
    _add(db, COMPANY_A, [("2024-01-31", T0 - timedelta(days=300))])  # counted once, its record since deleted
    _add(db, COMPANY_B, [("2024-01-31", T0)])  # another company's, left alone
    records = [{"timestamp": T0, "collection_date": "2024-01-31"},
               {"timestamp": T0 + timedelta(hours=3), "collection_date": "2024-01-31"},
               {"timestamp": T0 + timedelta(days=10), "collection_date": "2024-02-10"},
               {"timestamp": T0 + timedelta(days=11)},  # no collection date: counted, no span
               {"timestamp": T0 + timedelta(days=12), "collection_date": "12.2.2024"},  # not a date the API takes
               {"collection_date": "2024-01-31"}]  # no timestamp: nothing to note
    record_days_db.rebuild(db, COMPANY_A, MODEL, records)
    assert record_days_db.date_span(db, COMPANY_A, MODEL, "2024-01-31") == (T0, T0 + timedelta(hours=3))
    assert record_days_db.date_span(db, COMPANY_A, MODEL, {"$gte": "2024-01-01", "$lte": "2024-12-31"}) == (
        T0, T0 + timedelta(days=10))
    days = [T0, T0 + timedelta(hours=3)] + [T0 + timedelta(days=d) for d in (10, 11, 12)]
    assert record_days_db.day_counts(db, COMPANY_A, MODEL) == Counter(when.date() for when in days)
    assert record_days_db.date_span(db, COMPANY_A, MODEL, "12.2.2024") is None
    assert record_days_db.date_span(db, COMPANY_B, MODEL, "2024-01-31") == (T0, T0)
    record_days_db.rebuild(db, COMPANY_A, MODEL, records)  # again: the same
    assert sum(record_days_db.day_counts(db, COMPANY_A, MODEL).values()) == 5
    record_days_db.rebuild(db, COMPANY_A, MODEL, [])  # no records left: nothing noted
    assert record_days_db.day_counts(db, COMPANY_A, MODEL) == Counter()


def test_the_upgrade_notes_spans_of_records_stored_before_them(db):
    """Records an earlier release stored carry no spans: the upgrade step finds them, so a page asking
    for several such collection dates starts where their records do."""
    from database.collections import records_db
    from database.migrations import m0006_record_day_spans

    records_db.ensure_indexes(db)
    db[records_db.RECORDS].insert_many([
        {"_id": f"r{i}", "company": COMPANY_A, "model": MODEL, "timestamp": T0 + timedelta(hours=i),
         "collection_date": (T0 + timedelta(hours=i)).strftime("%Y-%m-%d")} for i in range(72)])
    db[records_db.RECORDS].insert_one({"_id": "other", "company": COMPANY_B, "model": MODEL, "timestamp": T0,
                                       "collection_date": "2023-01-01"})
    assert record_days_db.date_span(db, COMPANY_A, MODEL, {"$gte": "2024-02-01"}) is None
    m0006_record_day_spans.migrate(db)
    assert record_days_db.date_span(db, COMPANY_A, MODEL, {"$gte": "2024-02-01", "$lte": "2024-02-02"}) == (
        T0 + timedelta(hours=2), T0 + timedelta(hours=49))  # 2024-02-01 00:00 to 2024-02-02 23:00
    assert record_days_db.date_span(db, COMPANY_B, MODEL, "2023-01-01") == (T0, T0)
    assert sum(record_days_db.day_counts(db, COMPANY_A, MODEL).values()) == 72


def test_the_collection_dates_a_page_probes_one_by_one():
    from database.collections.record_days_db import PROBED_DATES, date_probes

    def dates(condition):
        probes = date_probes({"collection_date": condition, "season": "s1"})
        return None if probes is None else [p["collection_date"] for p in probes]

    assert dates("2024-04-01") == ["2024-04-01"]
    assert dates({"$in": ["2024-04-03", "2024-04-01"]}) == ["2024-04-03", "2024-04-01"]
    assert dates({"$gte": "2024-02-28", "$lte": "2024-03-01"}) == ["2024-02-28", "2024-02-29", "2024-03-01"]
    assert dates({"$gt": "2024-02-28", "$lt": "2024-03-02"}) == ["2024-02-29", "2024-03-01"]
    assert len(dates({"$gte": "2024-01-01", "$lt": "2024-02-01"})) == PROBED_DATES
    assert dates({"$gte": "2024-01-01", "$lte": "2024-02-01"}) is None  # more than a page probes
    assert dates({"$gte": "2024-01-01"}) is None  # open-ended
    assert dates({"$in": ["2024-04-01", "April"]}) is None
    assert dates({"$gte": "2024-02-30", "$lte": "2024-03-01"}) is None
    assert date_probes({"season": "s1"}) is None
