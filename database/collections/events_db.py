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
DEBUG_IMAGE = "training_debug_image"
PLOT = "plot"
SCALAR = "training_stats_scalar"
SINGLE_VALUE_ITER = -(2**31)  # the iteration ClearML clients report single values at
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

    def file_references(self, task_id: str) -> list[dict]:
        """The company's debug image and plot events of a task (or model), only the fields that name
        stored files (`url`, `plot_str`): what tasks.delete/reset answer with `return_file_urls`."""
        condition = {"task": task_id, "type": {"$in": [DEBUG_IMAGE, PLOT]}}
        return list(self.find(condition, {"url": 1, "plot_str": 1, "type": 1}))

    def log_events(self, task: dict, batch_size: int, descending: bool,
                   from_timestamp: int | None = None) -> tuple[list[dict], int]:
        """A page of the log events of `task` (a task document the caller may read, own or public) and
        the total number of them. `from_timestamp` (exclusive) continues from the last event of the
        previous page in the same direction."""
        condition: dict = {**self._of(task), "type": "log"}
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

    # --- plots and scalars of a task or model the caller may read --------------------------------------

    def _of(self, target: dict, model_event: bool | None = None) -> dict:
        """The events of `target` (a task or model document the caller may read, own or public): they
        were reported by its company, which a public document keeps in `company_origin`."""
        owner = target.get("company") or target.get("company_origin", self.company)
        condition: dict = {"task": target["_id"], "company": owner}
        if model_event is not None:
            condition["model_event"] = True if model_event else {"$ne": True}
        return condition

    @staticmethod
    def _metrics(metrics: list[dict] | None) -> dict:
        """A condition for `[{metric, variants?}]` (no condition when empty)."""
        terms = []
        for item in metrics or []:
            term: dict = {"metric": item.get("metric")}
            if item.get("variants"):
                term["variant"] = {"$in": list(item["variants"])}
            terms.append(term)
        return {"$or": terms} if terms else {}

    def plots(self, target: dict, model_event: bool, metrics: list[dict] | None, limit: int) -> list[dict]:
        """Up to `limit` plot events of the target, newest iteration first."""
        condition = {**self._of(target, model_event), "type": PLOT, **self._metrics(metrics)}
        cursor = self.collection.find(condition, {"company": 0, "received": 0})
        return list(cursor.sort([("iter", DESCENDING), ("timestamp", DESCENDING)]).limit(limit))

    def scalars(self, target: dict, model_event: bool, metrics: list[dict] | None, limit: int,
                single_values: bool = False) -> list[dict]:
        """Up to `limit` scalar events of the target (metric, variant, iter, value, timestamp) in
        iteration order; the single values alone with `single_values`, else without them."""
        condition = {**self._of(target, model_event), "type": SCALAR, **self._metrics(metrics),
                     "iter": SINGLE_VALUE_ITER if single_values else {"$ne": SINGLE_VALUE_ITER}}
        projection = {"_id": 0, "metric": 1, "variant": 1, "iter": 1, "value": 1, "timestamp": 1}
        cursor = self.collection.find(condition, projection)
        return list(cursor.sort([("iter", ASCENDING), ("timestamp", ASCENDING)]).limit(limit))
