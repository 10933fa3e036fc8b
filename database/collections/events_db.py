"""Events reported by running tasks (and for models): logs, scalars, plots, debug images.

Collection `events`, one document per event: the event as sent (keys made storable), plus `_id`,
`company`, `task` (the task id, or the model id for model events), `model_event`, `type`,
`timestamp` (epoch milliseconds), `iter` and `received`.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from database import clock, ids
from database.collections.scoped import Resource, ScopedCollection
from database.collections.stored_keys import as_sent, storable  # noqa: F401 (as_sent: events read back)

EVENTS = "events"
RESOURCE = Resource("events", EVENTS, shareable=False)


def ensure_indexes(db: Database) -> None:
    coll = db[EVENTS]
    coll.create_index([("task", ASCENDING), ("timestamp", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("task", ASCENDING), ("type", ASCENDING), ("timestamp", ASCENDING)])


def new_event_doc(event: dict, target_id: str, model_event: bool) -> dict:
    doc = storable(event)
    now = clock.now()
    timestamp = event.get("timestamp")
    iteration = event.get("iter")
    doc.update(
        _id=ids.new_id(),
        task=target_id,
        model_event=model_event,
        type=str(event.get("type") or "log"),
        timestamp=int(timestamp) if isinstance(timestamp, (int, float)) else int(now.timestamp() * 1000),
        iter=int(iteration) if isinstance(iteration, (int, float)) else 0,
        received=now,
    )
    return doc


class Events(ScopedCollection):
    """The events one company reported; a task's log is read through the (readable) task itself."""

    resource = RESOURCE

    def insert_events(self, docs: list[dict]) -> int:
        if not docs:
            return 0
        for doc in docs:
            doc["company"] = self.company
        return len(self.collection.insert_many(docs, ordered=False).inserted_ids)

    def delete_task_events(self, task_id: str) -> int:
        """Every event the company reported for a task (or model): tasks.reset/delete, models.delete,
        projects.delete call it."""
        return self.delete_many({"task": task_id})

    def log_events(self, task: dict, batch_size: int, descending: bool,
                   from_timestamp: int | None = None) -> tuple[list[dict], int]:
        """A page of the log events of `task` (a task document the caller may read, own or public) and
        the total number of them. `from_timestamp` (exclusive) continues from the last event of the
        previous page in the same direction."""
        owner = task.get("company") or task.get("company_origin", self.company)
        condition: dict = {"task": task["_id"], "type": "log", "company": owner}
        total = self.collection.count_documents(condition)
        if from_timestamp is not None:
            condition["timestamp"] = {"$lt" if descending else "$gt": from_timestamp}
        direction = DESCENDING if descending else ASCENDING
        cursor = self.collection.find(condition).sort([("timestamp", direction), ("_id", direction)]).limit(batch_size)
        return list(cursor), total

    def task_events(self, task: dict, types: list[str], condition: dict | None = None,
                    limit: int = 10_000) -> list[dict]:
        """Events of the given types of `task` (a task document the caller may read, own or public), oldest
        first, at most `limit` of them (the metric pages read no more than a reply can hold)."""
        owner = task.get("company") or task.get("company_origin", self.company)
        query = {**(condition or {}), "task": task["_id"], "type": {"$in": types}, "company": owner}
        cursor = self.collection.find(query).sort([("timestamp", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [as_sent(doc) for doc in cursor]
