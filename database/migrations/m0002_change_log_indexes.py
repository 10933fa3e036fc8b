"""The change log's indexes in shapes both servers plan from: entries not numbered yet are marked
`pending` (the sequencer looks them up by that mark), and the indexes on `seq $exists` and on
(company, acked_ns), which the embedded server never used, are dropped (database/collections/change_log_db.py)."""

from database.collections import change_log_db


def migrate(db) -> None:
    log = db[change_log_db.CHANGE_LOG]
    log.update_many({"seq": {"$exists": False}, "pending": {"$exists": False}}, {"$set": {"pending": True}})
    existing = log.index_information()
    for name in change_log_db.OLD_INDEXES:
        if name in existing:
            log.drop_index(name)
