"""events.get_task_metrics, events.get_task_plots, events.scalar_metrics_iter_histogram,
events.get_task_single_value_metrics: what a task or, with `model_events`, a model reported, read back
for the web app's Plots, Scalars and debug samples tabs.

The target must be readable by the caller (own or public; else 400/101 for a task, 400/201 for a
model); its events are read from the company that reported them. Reads are bounded: at most
`PLOT_EVENTS` plot events and `SCALAR_EVENTS` scalar points are read per call, and every series is
sampled down to `samples` points.
"""

from __future__ import annotations

from datetime import UTC, datetime

from database.collections import events_db
from services import errors
from services.call import Call
from services.handlers import handles
from services.shared import lookups

PLOT_EVENTS = 2000
SCALAR_EVENTS = 200_000
MAX_SAMPLES = 100_000
MODEL_EVENTS_FROM = "2.22"


def _model_events(call: Call) -> bool:
    """`model_events` exists from 2.22; below, the key is unknown and ignored (the id names a task)."""
    return bool(call.data.get("model_events")) and call.version_at_least(MODEL_EVENTS_FROM)


def _target(call: Call, target_id: str, model_event: bool) -> dict:
    fields = {"_id": 1, "company": 1, "company_origin": 1, "name": 1}
    if model_event:
        doc = call.scope.models.get(target_id, fields)
        if doc is None:
            raise errors.InvalidModelId(id=target_id)
    else:
        doc = call.scope.tasks.get(target_id, fields)
        if doc is None:
            raise errors.InvalidTaskId(id=target_id)
    return doc


def _render(doc: dict) -> dict:
    return events_db.as_sent({k: v for k, v in doc.items() if k not in ("_id", "company", "received")})


@handles("events.get_task_plots")
def get_task_plots(call: Call) -> dict:
    data = call.data
    model_event = _model_events(call)
    target = _target(call, data["task"], model_event)
    iters = int(data.get("iters") or 1)
    kept: dict[tuple, list] = {}  # (metric, variant) -> the distinct iterations taken, newest first
    plots = []
    for doc in call.scope.events.plots(target, model_event, data.get("metrics"), PLOT_EVENTS):
        taken = kept.setdefault((doc.get("metric"), doc.get("variant")), [])
        if doc.get("iter") not in taken:
            if len(taken) >= iters:
                continue
            taken.append(doc.get("iter"))
        plots.append(_render(doc))
    return {"plots": plots, "returned": len(plots), "total": len(plots)}


def _sampled(points: list[tuple], samples: int) -> tuple[list, list]:
    """At most `samples` (x, y) points: beyond, each of `samples` equal slices becomes its first x and
    the mean of its y."""
    if len(points) <= samples:
        return [p[0] for p in points], [p[1] for p in points]
    xs, ys = [], []
    for n in range(samples):
        chunk = points[n * len(points) // samples:(n + 1) * len(points) // samples]
        if chunk:
            xs.append(chunk[0][0])
            ys.append(sum(p[1] for p in chunk) / len(chunk))
    return xs, ys


def _x(doc: dict, key: str):
    if key == "iter":
        return doc.get("iter", 0)
    if key == "timestamp":
        return doc.get("timestamp", 0)
    return datetime.fromtimestamp(doc.get("timestamp", 0) / 1000, UTC).isoformat()


@handles("events.scalar_metrics_iter_histogram")
def scalar_metrics_iter_histogram(call: Call) -> dict:
    data = call.data
    model_event = _model_events(call)
    target = _target(call, data["task"], model_event)
    key = data.get("key") or "iter"
    samples = min(int(data.get("samples") or 6000), MAX_SAMPLES)
    series: dict[tuple, list] = {}
    for doc in call.scope.events.scalars(target, model_event, data.get("metrics"), SCALAR_EVENTS):
        value = doc.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            series.setdefault((str(doc.get("metric")), str(doc.get("variant"))), []).append((_x(doc, key), value))
    if key != "iter":
        for points in series.values():
            points.sort(key=lambda p: p[0])
    reply: dict = {}
    for (metric, variant), points in sorted(series.items()):
        xs, ys = _sampled(points, samples)
        reply.setdefault(metric, {})[variant] = {"name": variant, "x": xs, "y": ys}
    return reply


@handles("events.get_task_single_value_metrics")
def get_task_single_value_metrics(call: Call) -> dict:
    data = call.data
    model_event = _model_events(call)
    out = []
    for target_id in dict.fromkeys(data["tasks"]):
        target = _target(call, target_id, model_event)
        latest: dict[tuple, dict] = {}
        for doc in call.scope.events.scalars(target, model_event, data.get("metrics"), SCALAR_EVENTS,
                                             single_values=True):
            if isinstance(doc.get("value"), (int, float)) and not isinstance(doc.get("value"), bool):
                latest[(doc.get("metric"), doc.get("variant"))] = doc  # in time order: the last one wins
        values = [{"metric": d.get("metric"), "variant": d.get("variant"), "value": d["value"],
                   "timestamp": d.get("timestamp")} for _, d in sorted(latest.items(), key=lambda kv: str(kv[0]))]
        out.append({"task": target["_id"], "task_name": target.get("name"), "values": values})
    return {"tasks": out}


@handles("events.get_task_metrics")
def get_task_metrics(call: Call) -> dict:
    """The metric names each task reported events of the given type under (the debug samples page)."""
    event_type = call.data.get("event_type") or events_db.SCALAR
    tasks = call.data.get("tasks")
    out = []
    for task_id in [tasks] if isinstance(tasks, str) else [t for t in tasks or [] if isinstance(t, str)]:
        task = lookups.readable_task(call.scope, task_id)
        names = {e.get("metric") for e in call.scope.events.task_events(task, [event_type])}
        out.append({"task": task_id, "metrics": sorted(n for n in names if isinstance(n, str))})
    return {"metrics": out}
