"""Per-hour roll-ups of the records stored before records.get_series read them
(database/collections/record_rollups_db.py): each model's are rebuilt from its records. Idempotent (a
rebuild replaces what a previous run wrote). Reads every record once: 100 s for a million records on the
embedded server on a busy machine."""

from database.collections import record_rollups_db, records_db

FIELDS = {"model": 1, "timestamp": 1, "data": 1, **{d: 1 for d in record_rollups_db.DIMENSIONS}}


def migrate(db) -> None:
    owners = db[records_db.RECORDS].aggregate([{"$group": {"_id": {"company": "$company", "model": "$model"}}}])
    for owner in list(owners):
        company, model = owner["_id"].get("company"), owner["_id"].get("model")
        if isinstance(company, str) and isinstance(model, str):
            found = db[records_db.RECORDS].find({"model": model, "company": company}, FIELDS, batch_size=2000)
            record_rollups_db.rebuild(db, company, model, found)
