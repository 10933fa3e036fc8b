"""Day counts and collection-date spans (database/collections/record_days_db.py) rebuilt from the records:
records stored before adds noted where each collection date's records lie in time have no spans, and a
page asking for several such dates then read from the model's first records on (4 s a page of 100 at a
million records). Idempotent (a rebuild replaces what it finds). Reads every record once, as m0003 does.
"""

from database.collections import record_days_db, records_db


def migrate(db) -> None:
    for company, model, found in records_db.every_models_records(db, {"timestamp": 1, "collection_date": 1, "_id": 0}):
        record_days_db.rebuild(db, company, model, found)
