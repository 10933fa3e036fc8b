"""queues.get_all and the enqueue calls of tasks.*: modelreg schedules nothing (no agents, no queues).

Listing queues answers ClearML's shape with no queues, so a client or page that lists them keeps
working; enqueueing answers ClearML's invalid-queue error (400/701) saying why, instead of a 404 that
reads like a broken server. Nothing is read or written.
"""

from __future__ import annotations

from services import errors
from services.call import Call
from services.handlers import handles

NO_QUEUES = "queues are not supported by this server: it runs no agents, use a ClearML server to schedule tasks"


@handles("queues.get_all")
def get_all(call: Call) -> dict:
    return {"queues": []}


@handles("tasks.enqueue")
def enqueue(call: Call) -> dict:
    raise errors.InvalidQueueId(NO_QUEUES)


@handles("tasks.enqueue_many")
def enqueue_many(call: Call) -> dict:
    raise errors.InvalidQueueId(NO_QUEUES)
