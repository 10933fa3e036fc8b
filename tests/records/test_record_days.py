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
