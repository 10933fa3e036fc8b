"""Deliveries of webhooks (`webhook_deliveries`) and the leases delivery processes hold on webhooks.

A delivery is one change-log entry (or a ping) sent to one webhook: `{_id (the delivery id the receiver
sees), company, webhook, seq, kind, state, attempts, status, error, created, first_attempt,
last_attempt, next_attempt, delivered, expires}`. States: `pending` (being sent or waiting for a retry;
at most one per webhook, the head of its queue), `delivered`, `parked` (given up after the retry
window; redeliverable), `queued` (asked to be sent again). Finished deliveries carry `expires`, after
which a TTL index removes them; parked and queued ones stay.

Leases: a delivery process works on a webhook only while it holds the webhook's lease (`lease_holder`,
`lease_expires` on the webhook), taken by one conditional update and renewed before every attempt;
every write of the delivery state is conditioned on still holding it. The functions below the scoped
class work across companies (they serve the delivery process, which serves every company).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne, WriteConcern
from pymongo.database import Database

from database import clock, ids
from database.collections.change_log_db import first_time_after, heads_of
from database.collections.scoped import Resource, ScopedCollection
from database.collections.webhooks_db import WEBHOOKS

DELIVERIES = "webhook_deliveries"
RESOURCE = Resource("webhook_deliveries", DELIVERIES, None, shareable=False)
PUBLIC_FIELDS = ("_id", "webhook", "seq", "kind", "state", "attempts", "status", "error", "created",
                 "last_attempt", "next_attempt", "delivered")
STATES = ("pending", "delivered", "parked", "queued")
_UNJOURNALED = WriteConcern(w=1, j=False)


def ensure_indexes(db: Database) -> None:
    coll = db[DELIVERIES]
    coll.create_index([("webhook", ASCENDING), ("state", ASCENDING), ("seq", ASCENDING)])
    coll.create_index([("webhook", ASCENDING), ("created", DESCENDING)])
    coll.create_index([("expires", ASCENDING)], expireAfterSeconds=0, name="expires_ttl")
    db[WEBHOOKS].create_index([("lease_expires", ASCENDING)])


class Deliveries(ScopedCollection):
    resource = RESOURCE

    def page(self, webhook_id: str, states: list[str] | None, page: int, page_size: int) -> list[dict]:
        condition: dict = {"webhook": webhook_id}
        if states:
            condition["state"] = {"$in": states}
        cursor = self.collection.find({**condition, **self.writable()}, {f: 1 for f in PUBLIC_FIELDS})
        return list(cursor.sort([("created", DESCENDING), ("_id", ASCENDING)]).skip(page * page_size)
                    .limit(page_size))

    def add_ping(self, delivery_id: str, webhook_id: str, outcome: dict, keep_sec: float) -> dict:
        """Notes a ping sent by webhooks.test (finished at once: delivered, or parked when it failed)."""
        now = clock.now()
        doc = {"_id": delivery_id, "webhook": webhook_id, "seq": None, "kind": "ping",
               "state": "delivered" if outcome["ok"] else "parked", "attempts": 1, "status": outcome["status"],
               "error": outcome["error"], "created": now, "first_attempt": now, "last_attempt": now,
               "next_attempt": None, "delivered": now if outcome["ok"] else None,
               "expires": now + timedelta(seconds=keep_sec)}
        return self.insert(doc)

    def queue(self, delivery_id: str) -> dict | None:
        """Asks for one finished delivery (delivered or parked) to be sent again; None when it is not
        one of the company's, the pending one, already queued or a ping (webhooks.test sends a new one)."""
        return self.find_one_and_update(
            {"_id": delivery_id, "state": {"$in": ["delivered", "parked"]}, "seq": {"$type": "number"}},
            {"$set": {"state": "queued", "next_attempt": None, "expires": None, "queued_at": clock.now()}},
            return_document=ReturnDocument.AFTER)

    def queue_parked(self, webhook_id: str) -> int:
        return self.update_many({"webhook": webhook_id, "state": "parked", "seq": {"$type": "number"}},
                                {"$set": {"state": "queued", "next_attempt": None, "queued_at": clock.now()}})

    def delete_of_webhook(self, webhook_id: str) -> int:
        return self.delete_many({"webhook": webhook_id})


# --- the delivery process: leases and the queue of each webhook (across companies) ------------------


def due_webhooks(db: Database, limit: int, skip: set[str]) -> tuple[list[dict], datetime | None]:
    """Webhooks whose lease is free and that have something to do: a retry that is due, deliveries
    queued to be sent again, or entries after their cursor. Also the time of the oldest change that
    waits among the active webhooks looked at (a retry's `waiting_since`, else the first entry after the
    cursor, read where the check for entries already reads), None when none waits: the change-log lag."""
    now = clock.now()
    free = {"$or": [{"lease_expires": None}, {"lease_expires": {"$lte": now}}]}
    fields = {"company": 1, "cursor": 1, "retry_at": 1, "queued": 1, "state": 1, "waiting_since": 1}
    due, oldest = [], None

    def waits(since) -> None:
        nonlocal oldest
        if since is not None and (oldest is None or clock.as_utc(since) < oldest):
            oldest = clock.as_utc(since)

    hooks = [hook for hook in db[WEBHOOKS].find(free, fields).limit(limit * 4) if hook["_id"] not in skip]
    # one read of the heads tells which cursors have entries after them (readers stop at the head)
    heads = heads_of(db, (hook["company"] for hook in hooks))
    for hook in hooks:
        retry_at = hook.get("retry_at")
        if retry_at is not None:
            waits(hook.get("waiting_since"))
            if clock.as_utc(retry_at) <= now:
                due.append(hook)
            continue
        if hook.get("queued") and hook.get("state") != "failing":
            due.append(hook)
            continue
        cursor = int(hook.get("cursor") or 0)
        if heads.get(hook["company"], 0) <= cursor:
            continue
        first = first_time_after(db, hook["company"], cursor)
        if first is not None:
            if hook.get("state") != "failing":  # a failing webhook parks its entries: its state says so
                waits(first)
            due.append(hook)
        if len(due) >= limit:
            break
    return due[:limit], oldest


def take_lease(db: Database, webhook_id: str, holder: str, lease_sec: float) -> dict | None:
    """The webhook (with its secret) when `holder` took its lease, None when a live lease holds it."""
    now = clock.now()
    return db[WEBHOOKS].find_one_and_update(
        {"_id": webhook_id, "$or": [{"lease_expires": None}, {"lease_expires": {"$lte": now}}]},
        {"$set": {"lease_holder": holder, "lease_expires": now + timedelta(seconds=lease_sec)}},
        return_document=ReturnDocument.AFTER)


def renew_lease(db: Database, webhook_id: str, holder: str, lease_sec: float) -> bool:
    """Pushes the lease's expiry to `lease_sec` from now; False when `holder` no longer holds it."""
    expires = clock.now() + timedelta(seconds=lease_sec)
    return db[WEBHOOKS].update_one({"_id": webhook_id, "lease_holder": holder},
                                   {"$set": {"lease_expires": expires}}).matched_count == 1


def release_lease(db: Database, webhook_id: str, holder: str) -> None:
    db[WEBHOOKS].update_one({"_id": webhook_id, "lease_holder": holder},
                            {"$set": {"lease_holder": None, "lease_expires": None}})


def set_webhook(db: Database, webhook_id: str, holder: str, fields: dict) -> bool:
    """Writes delivery state of the webhook while `holder` holds its lease."""
    return db[WEBHOOKS].update_one({"_id": webhook_id, "lease_holder": holder},
                                   {"$set": fields}).matched_count == 1


def head(db: Database, webhook_id: str) -> dict | None:
    """The pending delivery, else the oldest queued one (made pending), else None."""
    coll = db[DELIVERIES]
    pending = coll.find_one({"webhook": webhook_id, "state": "pending"})
    if pending is not None:
        return pending
    return coll.find_one_and_update({"webhook": webhook_id, "state": "queued"},
                                    {"$set": {"state": "pending", "expires": None}},
                                    sort=[("seq", ASCENDING), ("created", ASCENDING)],
                                    return_document=ReturnDocument.AFTER)


def new_pending(db: Database, hook: dict, entry: dict, delivery_id: str) -> dict:
    now = clock.now()
    doc = {"_id": delivery_id, "company": hook["company"], "webhook": hook["_id"], "seq": entry["seq"],
           "kind": entry.get("kind"), "state": "pending", "attempts": 0, "status": None, "error": None,
           "created": now, "first_attempt": None, "last_attempt": None, "next_attempt": None,
           "delivered": None, "expires": None}
    db[DELIVERIES].replace_one({"_id": delivery_id}, doc, upsert=True)
    return doc


def delivered_many(db: Database, hook: dict, sent: list[tuple[str, dict, dict]], keep_sec: float) -> None:
    """Notes entries delivered at their first attempt: (delivery id, entry, outcome) each. An entry sent
    again after a crash finds its record and counts one more attempt. Unjournaled (the embedded server
    flushes its journal per document when asked): the caller's next write, journaled, puts them on disk."""
    if not sent:
        return
    now = clock.now()
    db.get_collection(DELIVERIES, write_concern=_UNJOURNALED).bulk_write([UpdateOne({"_id": delivery_id}, {
        "$set": {"state": "delivered", "status": outcome["status"], "error": None, "last_attempt": now,
                 "next_attempt": None, "delivered": now, "expires": now + timedelta(seconds=keep_sec)},
        "$setOnInsert": {"company": hook["company"], "webhook": hook["_id"], "seq": entry["seq"],
                         "kind": entry.get("kind"), "created": now, "first_attempt": now},
        "$inc": {"attempts": 1}}, upsert=True) for delivery_id, entry, outcome in sent], ordered=False)


def attempted(db: Database, delivery: dict, outcome: dict, state: str, next_attempt: datetime | None,
              keep_sec: float) -> None:
    """Notes one attempt's outcome; a delivered one expires after `keep_sec`."""
    now = clock.now()
    fields = {"state": state, "status": outcome["status"], "error": outcome["error"], "last_attempt": now,
              "next_attempt": next_attempt}
    if delivery.get("first_attempt") is None:
        fields["first_attempt"] = now
    if state == "delivered":
        fields.update(delivered=now, expires=now + timedelta(seconds=keep_sec))
    db[DELIVERIES].update_one({"_id": delivery["_id"]}, {"$set": fields, "$inc": {"attempts": 1}})


def park_pending_and_queued(db: Database, webhook_id: str) -> int:
    return db[DELIVERIES].update_many({"webhook": webhook_id, "state": {"$in": ["pending", "queued"]}},
                                      {"$set": {"state": "parked", "next_attempt": None}}).modified_count


def park_entries(db: Database, hook: dict, entries: list[dict]) -> None:
    """Parked deliveries of entries never attempted (their webhook is failing)."""
    if not entries:
        return
    now = clock.now()
    db[DELIVERIES].insert_many([
        {"_id": ids.new_id(), "company": hook["company"], "webhook": hook["_id"], "seq": e["seq"],
         "kind": e.get("kind"), "state": "parked", "attempts": 0, "status": None,
         "error": "not attempted: the webhook is failing", "created": now, "first_attempt": None,
         "last_attempt": None, "next_attempt": None, "delivered": None, "expires": None} for e in entries])
