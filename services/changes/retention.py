"""The retention sweep: entries older than `change_log.retention_days` are deleted, oldest first, and
each company's head remembers the first seq it keeps (a feed cursor before it is refused, and
verification starts there). Nothing is deleted while the setting is 0. The delivery process calls
`sweep` from its loop; writes made by the sweep itself are not logged."""

from __future__ import annotations

from datetime import timedelta

from database import clock
from database.collections import change_log_db


def sweep(db, retention_days: float, company: str | None = None) -> int:
    """Deletes the numbered entries older than `retention_days` of `company` (None: every company);
    returns how many."""
    if retention_days <= 0:
        return 0
    cut = clock.now() - timedelta(days=retention_days)
    companies = [company] if company is not None else change_log_db.companies_with_entries(db)
    return sum(change_log_db.delete_before(db, c, cut) for c in companies)
