"""Webhooks (`webhooks.*`): where a company's change-log entries are pushed.

Collection `webhooks`: `{_id, company, user, url, kinds, secret, created, last_update, state ("active" |
"failing"), failing_since, last_error, cursor, retry_at, queued, lease_holder, lease_expires}`.
`cursor` is the last seq handled (delivered, parked or not of the webhook's kinds), `retry_at` the time
a delivery waiting for a retry is due, `queued` whether deliveries wait to be sent again. The secret is
a hidden field: it leaves the database only for signing (services/webhooks/).

The lease fields say which delivery process works on the webhook until when (webhook_deliveries_db.py).
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.database import Database

from database import clock
from database.collections import change_log_db
from database.collections.scoped import Resource, ScopedCollection

WEBHOOKS = "webhooks"
RESOURCE = Resource("webhooks", WEBHOOKS, None, hidden_fields=("secret", "lease_holder", "lease_expires"),
                    shareable=False)
PUBLIC_FIELDS = ("_id", "url", "kinds", "user", "created", "last_update", "state", "failing_since",
                 "last_error", "cursor")


def ensure_indexes(db: Database) -> None:
    db[WEBHOOKS].create_index([("company", ASCENDING), ("created", ASCENDING)])


class Webhooks(ScopedCollection):
    resource = RESOURCE

    def listed(self, ids: list[str] | None = None, limit: int = 0) -> list[dict]:
        condition = {"_id": {"$in": ids}} if ids else None
        return self.find(condition, {f: 1 for f in PUBLIC_FIELDS}, own_only=True, sort=[("created", 1)],
                         limit=limit)

    def count_own(self) -> int:
        return self.count()

    def create(self, doc: dict) -> dict:
        # delivery starts with the changes after the log's last numbered entry
        doc["cursor"] = change_log_db.head(self.db, self.company)["last_seq"]
        return self.insert(doc)

    def edit(self, webhook_id: str, fields: dict) -> int:
        return self.update(webhook_id, {"$set": {**fields, "last_update": clock.now()}})

    def resume(self, webhook_id: str, queued: bool) -> int:
        """Back to active after parking; `queued`: deliveries wait to be sent again."""
        fields = {"state": "active", "failing_since": None, "last_update": clock.now()}
        if queued:
            fields["queued"] = True
        return self.update(webhook_id, {"$set": fields})
