"""Change-log entries not numbered yet move from `change_log` (where a `pending` mark told them apart) to
`change_log_pending`, where the sequencer now looks for them (database/collections/change_log_db.py),
and the log's index on that mark is dropped. Idempotent: an entry is copied before it is deleted, and a
copy that is already there is skipped."""

from pymongo.errors import BulkWriteError

from database.collections import change_log_db


def migrate(db) -> None:
    log, pending = db[change_log_db.CHANGE_LOG], db[change_log_db.PENDING]
    while True:
        batch = list(log.find({"pending": True}).limit(500))
        if not batch:
            break
        for entry in batch:
            entry.pop("pending", None)
        try:
            pending.insert_many(batch, ordered=False)
        except BulkWriteError as exc:  # copies made by a run that died before deleting
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise
        log.delete_many({"_id": {"$in": [entry["_id"] for entry in batch]}, "pending": True})
    if change_log_db.OLD_PENDING_INDEX in log.index_information():
        log.drop_index(change_log_db.OLD_PENDING_INDEX)
