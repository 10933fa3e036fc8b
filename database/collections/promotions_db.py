"""Promotion requests: asking that a protected alias move to a version, and the reviews of that ask.

Collection `promotions`, one document per request:
`{_id, company, model, version, project, name, alias, from_model (what the alias named when asked; None:
unset), reason, requester, state, state_reason, approvals [{user, time, comment}], rejection {user, time,
comment}?, required_approvals, created, last_update, applied?}`.

States: `open` -> `approved` (the alias moved) | `rejected` | `cancelled` | `stale` (a precondition
failed when it was to apply). `applying` is the moment between the winning approval and the move: it
is what makes the move happen once when approvals race, and keeps a cancel from crossing it.
Every transition is one conditional update on the current state, so concurrent callers on any worker
agree on the outcome.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from database import clock
from database.collections.scoped import Resource, ScopedCollection, both
from database.query import engine

PROMOTIONS = "promotions"
OPEN, APPLYING, APPROVED, REJECTED, CANCELLED, STALE = "open", "applying", "approved", "rejected", "cancelled", "stale"
RESOURCE = Resource("promotions", PROMOTIONS, shareable=False)
FILTERS = ("state", "alias", "model", "requester", "project", "name")


def ensure_indexes(db: Database) -> None:
    db[PROMOTIONS].create_index([("company", ASCENDING), ("created", DESCENDING)])
    db[PROMOTIONS].create_index([("company", ASCENDING), ("state", ASCENDING), ("created", DESCENDING)])
    db[PROMOTIONS].create_index([("company", ASCENDING), ("model", ASCENDING)])


class Promotions(ScopedCollection):
    """The company's promotion requests."""

    resource = RESOURCE

    def approve(self, request_id: str, user: str, comment: str | None) -> dict | None:
        """Adds the user's approval to an open request they have not approved yet; returns the request
        after it, or None when it is not open or the user already approved."""
        now = clock.now()
        return self.find_one_and_update(
            {"_id": request_id, "state": OPEN, "approvals.user": {"$ne": user}},
            {"$push": {"approvals": {"user": user, "time": now, "comment": comment}}, "$set": {"last_update": now}},
            return_document=ReturnDocument.AFTER)

    def transition(self, request_id: str, from_states: tuple[str, ...], to_state: str, extra: dict | None = None
                   ) -> dict | None:
        """Moves the request from one of `from_states` to `to_state`; returns it after, or None when it
        was in another state (someone else moved it first)."""
        change = {"state": to_state, "last_update": clock.now(), **(extra or {})}
        return self.find_one_and_update({"_id": request_id, "state": {"$in": list(from_states)}}, {"$set": change},
                                        return_document=ReturnDocument.AFTER)

    def page(self, filters: dict, paging: dict, default_size: int) -> tuple[list[dict], int]:
        """One page of the requests matching the filters (each a value or a list of values), newest first."""
        condition = {}
        for name in FILTERS:
            value = filters.get(name)
            if value is None or value == []:
                continue
            condition[name] = {"$in": list(value)} if isinstance(value, list) else value
        skip, limit = engine.page_window(paging, self.limits.max_page_size, default_size)
        total = self.count(condition)
        cursor = (self.collection.find(both(condition, self.writable()))
                  .sort([("created", DESCENDING), ("_id", ASCENDING)]).skip(skip).limit(limit))
        return list(cursor), total
