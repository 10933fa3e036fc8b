"""queues.get_all_ex and queues.get_queue_metrics: the web app's queues page. No queue here runs work
(no agents), so the page gets ClearML's shapes (apiserver/services/queues.py) with nothing in them."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("queues.get_all_ex")
def get_all_ex(call: Call) -> dict:
    reply: dict = {"queues": []}
    if "scroll_id" in call.data:
        reply["scroll_id"] = None
    return reply


@handles("queues.get_queue_metrics")
def get_queue_metrics(call: Call) -> dict:
    return {"queues": []}
