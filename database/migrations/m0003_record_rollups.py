"""Per-hour roll-ups of the records stored before records.get_series read them
(database/collections/record_rollups_db.py): each model's are rebuilt from its records. Idempotent (a
rebuild replaces what a previous run wrote). Reads every record once: 100 s for a million records on the
embedded server on a busy machine."""

from database.collections import record_rollups_db, records_db

FIELDS = {"model": 1, "timestamp": 1, "data": 1, **{d: 1 for d in record_rollups_db.DIMENSIONS}}


def migrate(db) -> None:
    for company, model, found in records_db.every_models_records(db, FIELDS):
        record_rollups_db.rebuild(db, company, model, found)
