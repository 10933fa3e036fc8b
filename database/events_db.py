"""Events reported by running tasks (and for models): logs, scalars, plots, debug images.

Collection `events`, one document per event: the event as sent (keys made storable), plus `_id`,
`company`, `task` (the task id, or the model id for model events), `model_event`, `type`,
`timestamp` (epoch milliseconds), `iter` and `received`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from database.models_db import MODELS

EVENTS = "events"


def ensure_indexes(db: Database) -> None:
    coll = db[EVENTS]
    coll.create_index([("task", ASCENDING), ("timestamp", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("task", ASCENDING), ("type", ASCENDING), ("timestamp", ASCENDING)])


def storable_key(key: str) -> str:
    """Keys MongoDB would refuse or misread ('$' first, '.' inside) are percent-escaped."""
    key = str(key).replace("%", "%25").replace(".", "%2E")
    return "%24" + key[1:] if key.startswith("$") else key


def stored_key(key: str) -> str:
    """The key as it was sent (inverse of storable_key)."""
    if key.startswith("%24"):
        key = "$" + key[3:]
    return key.replace("%2E", ".").replace("%25", "%")


def storable(value):
    if isinstance(value, dict):
        return {storable_key(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def as_sent(value):
    """An event read back with its keys as they were sent."""
    if isinstance(value, dict):
        return {stored_key(k): as_sent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sent(v) for v in value]
    return value


def new_event_doc(company: str, event: dict, target_id: str, model_event: bool) -> dict:
    doc = storable(event)
    now = datetime.now(timezone.utc)
    timestamp = event.get("timestamp")
    iteration = event.get("iter")
    doc.update(
        _id=uuid.uuid4().hex,
        company=company,
        task=target_id,
        model_event=model_event,
        type=str(event.get("type") or "log"),
        timestamp=int(timestamp) if isinstance(timestamp, (int, float)) else int(now.timestamp() * 1000),
        iter=int(iteration) if isinstance(iteration, (int, float)) else 0,
        received=now,
    )
    return doc


def insert_events(db: Database, docs: list[dict]) -> int:
    if not docs:
        return 0
    return len(db[EVENTS].insert_many(docs, ordered=False).inserted_ids)


def delete_task_events(db: Database, task_id: str) -> int:
    """Every event of a task (or model); tasks.reset/delete, models.delete, projects.delete call it."""
    return db[EVENTS].delete_many({"task": task_id}).deleted_count


def log_events(db: Database, task_id: str, batch_size: int, descending: bool,
               from_timestamp: int | None = None) -> tuple[list[dict], int]:
    """A page of a task's log events and the total number of them. `from_timestamp` (exclusive)
    continues from the last event of the previous page in the same direction."""
    query: dict = {"task": task_id, "type": "log"}
    total = db[EVENTS].count_documents(query)
    if from_timestamp is not None:
        query["timestamp"] = {"$lt" if descending else "$gt": from_timestamp}
    direction = DESCENDING if descending else ASCENDING
    cursor = db[EVENTS].find(query).sort([("timestamp", direction), ("_id", direction)]).limit(batch_size)
    return list(cursor), total


def update_model_metrics(db: Database, model_id: str, set_fields: dict, iteration: int | None) -> None:
    """Sets `last_metrics.<metric>.<variant>` entries of a model and raises its last_iteration
    (events.add_batch with model events). Writes the models collection, which database/models_db.py
    owns; it has no such update."""
    update: dict = {"$set": set_fields} if set_fields else {}
    if iteration is not None:
        update["$max"] = {"last_iteration": int(iteration)}
    if update:
        db[MODELS].update_one({"_id": model_id}, update)


def model_last_metrics(db: Database, company: str, model_id: str) -> dict | None:
    """The model's last_metrics (None when the company has no such model). Reads the models collection
    (owned by database/models_db.py) for the same reason as above."""
    doc = db[MODELS].find_one({"_id": model_id, "company": company}, {"last_metrics": 1})
    return None if doc is None else (doc.get("last_metrics") or {})
