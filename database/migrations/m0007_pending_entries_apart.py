"""Change-log entries not numbered yet move from `change_log` (where a `pending` mark told them apart) to
`change_log_pending`, where the sequencer now looks for them (database/collections/change_log_db.py).
The mark's partial index stays: hosts of the earlier release still running during a rolling upgrade
keep marking entries, and every delivery round moves those too. Idempotent (`adopt_marked`)."""

from database.collections import change_log_db


def migrate(db) -> None:
    while change_log_db.adopt_marked(db):
        pass
