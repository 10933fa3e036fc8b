"""events.*: what running tasks report (the SDK's log lines, scalars, plots), kept in MongoDB.

`events.add_batch` never fails a batch because of one event: an event for an unknown task or model, for
a published one (unless `allow_locked`), or whose timestamp or iteration is a number that could not be
stored or read back, is counted in `errors` and skipped. Scalar events
(`training_stats_scalar`) update the task's or model's `last_metrics` and `last_iteration`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from database.collections import events_db
from database.query.dates import EARLIEST, LATEST
from services import errors
from services.call import Call
from services.handlers import handles

SCALAR = "training_stats_scalar"
LOCKED_STATUSES = ("published", "publishing")
# an event's timestamp (epoch milliseconds) must be a date the API can show (iso_time histograms do);
# its iteration must fit the database's 64-bit integers
TIMESTAMPS = (EARLIEST.timestamp() * 1000, LATEST.timestamp() * 1000)
ITERATIONS = (-(2**63), 2**63 - 1)


def metric_key(name: str) -> str:
    """last_metrics keys are md5 digests of the metric and variant names (as in ClearML)."""
    return hashlib.md5(str(name).encode("utf-8")).hexdigest()


def _target_id(event: dict, model_event: bool) -> str | None:
    target = event.get("model") if model_event and event.get("model") else event.get("task")
    return target if isinstance(target, str) and target else None


class _Targets:
    """Looks each task or model up once per batch and keeps its last_metrics as merged so far."""

    def __init__(self, call: Call):
        self.call = call
        self.metrics: dict[tuple[bool, str], dict | None] = {}
        self.locked: dict[str, bool] = {}

    def last_metrics(self, target_id: str, model_event: bool) -> dict | None:
        key = (model_event, target_id)
        if key not in self.metrics:
            scope = self.call.scope
            if model_event:
                model = scope.models.get_writable(target_id, {"last_metrics": 1})
                self.metrics[key] = None if model is None else (model.get("last_metrics") or {})
            else:
                task = scope.tasks.get(target_id, {"last_metrics": 1, "status": 1}, allow_public=False)
                self.metrics[key] = None if task is None else (task.get("last_metrics") or {})
                self.locked[target_id] = task is not None and task.get("status") in LOCKED_STATUSES
        return self.metrics[key]


def _merge_scalar(last_metrics: dict, event: dict) -> tuple[str, dict] | None:
    """Folds one scalar event into `last_metrics`; returns the (path, entry) to store."""
    metric, variant, value = event.get("metric"), event.get("variant"), event.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or metric is None or variant is None:
        return None
    iteration = event.get("iter") if isinstance(event.get("iter"), (int, float)) else 0
    m_key, v_key = metric_key(metric), metric_key(variant)
    entry = dict((last_metrics.get(m_key) or {}).get(v_key) or {})
    if not entry:
        entry = {"metric": metric, "variant": variant, "first_value": value, "first_value_iteration": iteration,
                 "min_value": value, "min_value_iteration": iteration, "max_value": value,
                 "max_value_iteration": iteration, "count": 0, "mean_value": value}
    count = entry.get("count", 0)
    entry["mean_value"] = (entry.get("mean_value", value) * count + value) / (count + 1)
    entry["count"] = count + 1
    if value < entry.get("min_value", value) or "min_value" not in entry:
        entry["min_value"], entry["min_value_iteration"] = value, iteration
    if value > entry.get("max_value", value) or "max_value" not in entry:
        entry["max_value"], entry["max_value_iteration"] = value, iteration
    entry["value"] = value
    if event.get("x_axis_label"):
        entry["x_axis_label"] = event["x_axis_label"]
    last_metrics.setdefault(m_key, {})[v_key] = entry
    return f"last_metrics.{m_key}.{v_key}", entry


@handles("events.add_batch")
def add_batch(call: Call) -> dict:
    return _add_events(call, call.batch or [])


@handles("events.add")
def add(call: Call) -> dict:
    """One event in the body; refused events are counted in `errors` as in a batch (as ClearML does)."""
    return _add_events(call, [call.data])


def _unusable(event: dict) -> str | None:
    """Why the event's timestamp or iteration, when a number, cannot be kept. Both are untyped in the
    schema, so that an odd one fails its own event rather than the batch."""
    for key, (low, high), reason in (("timestamp", TIMESTAMPS, "Invalid event timestamp"),
                                     ("iter", ITERATIONS, "Invalid event iteration")):
        value = event.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not low <= int(value) <= high:
            return reason
    return None


def _add_events(call: Call, events: list[dict]) -> dict:
    targets = _Targets(call)
    docs: list[dict] = []
    failures: dict[str, int] = defaultdict(int)
    updates: dict[tuple[bool, str], dict] = defaultdict(dict)
    iterations: dict[tuple[bool, str], int] = {}
    for event in events:
        model_event = bool(event.get("model_event"))
        target = _target_id(event, model_event)
        metrics = targets.last_metrics(target, model_event) if target else None
        if metrics is None:
            failures["Invalid task id" if not model_event else "Invalid model id"] += 1
            continue
        if not model_event and targets.locked.get(target) and not event.get("allow_locked"):
            failures["Cannot add events to a published task"] += 1
            continue
        reason = _unusable(event)
        if reason is not None:
            failures[reason] += 1
            continue
        docs.append(events_db.new_event_doc(event, target, model_event))
        key = (model_event, target)
        iteration = event.get("iter")
        if isinstance(iteration, (int, float)) and not isinstance(iteration, bool):
            iterations[key] = max(iterations.get(key, 0), int(iteration))
        if event.get("type") == SCALAR:
            merged = _merge_scalar(metrics, event)
            if merged:
                updates[key][merged[0]] = merged[1]
    added = call.scope.events.insert_events(docs)
    for key in set(updates) | set(iterations):
        model_event, target = key
        if model_event:
            call.scope.models.update_metrics(target, updates.get(key, {}), iterations.get(key))
        else:
            call.scope.tasks.update_last_metrics(target, updates.get(key, {}), iterations.get(key))
    return {"added": added, "errors": sum(failures.values()), "errors_info": dict(failures)}


def _render_event(doc: dict) -> dict:
    return events_db.as_sent({k: v for k, v in doc.items() if k not in ("_id", "company", "received")})


@handles("events.get_task_log")
def get_task_log(call: Call) -> dict:
    data = call.data
    task_id = data["task"]
    task = call.scope.tasks.get(task_id, {"_id": 1, "company": 1, "company_origin": 1})
    if task is None:
        raise errors.InvalidTaskId(id=task_id)
    navigate_earlier = data.get("navigate_earlier", True)
    batch_size = int(data.get("batch_size") or 500)
    from_timestamp = data.get("from_timestamp")
    found, total = call.scope.events.log_events(task, batch_size, descending=bool(navigate_earlier),
                                                from_timestamp=from_timestamp)
    order = data.get("order")
    if (order == "asc" and navigate_earlier) or (order == "desc" and not navigate_earlier):
        found.reverse()
    events = [_render_event(d) for d in found]
    return {"events": events, "returned": len(events), "total": total}
