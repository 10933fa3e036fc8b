"""The counted name ranges of every company's registered models (database/collections/registered_ranges_db.py),
made from the registered models stored before them. Idempotent (a rebuild replaces what a previous run
wrote); reads every registered model once."""

from database.collections import registered_ranges_db


def migrate(db) -> None:
    companies = db[registered_ranges_db.REGISTERED_MODELS].distinct("company")
    for company in companies:
        if isinstance(company, str):
            registered_ranges_db.rebuild(db, company)
