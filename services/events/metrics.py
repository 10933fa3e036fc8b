"""events.* reads of a task's metrics for the ClearML web app's task pages (scalars, plots, debug
samples), from the events events.add_batch stored. ClearML (apiserver/services/events.py,
apiserver/bll/event/) reads them from Elasticsearch; the reply shapes are the same. Each read is bounded
(events_db.Events.task_events)."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles
from services.shared import lookups

SCALAR = "training_stats_scalar"
SINGLE_VALUE_ITERATION = -(2**31)  # ClearML's iteration of a reported single value
EVENT_TYPES = {"training_stats_scalar", "training_debug_image", "plot", "log", "training_stats_vector"}


def _ids(value) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


@handles("events.get_task_metrics")
def get_task_metrics(call: Call) -> dict:
    """The metric names each task reported events of the given type under."""
    event_type = call.data.get("event_type") or SCALAR
    out = []
    for task_id in _ids(call.data.get("tasks")):
        task = lookups.readable_task(call.scope, task_id)
        names = {e.get("metric") for e in call.scope.events.task_events(task, [event_type])}
        out.append({"task": task_id, "metrics": sorted(n for n in names if isinstance(n, str))})
    return {"metrics": out}


@handles("events.get_task_single_value_metrics")
def get_task_single_value_metrics(call: Call) -> dict:
    """The single values (scalars reported at ClearML's single-value iteration) of each task."""
    out = []
    for task_id in _ids(call.data.get("tasks")):
        task = lookups.readable_task(call.scope, task_id)
        latest: dict[tuple, dict] = {}
        for e in call.scope.events.task_events(task, [SCALAR], {"iter": SINGLE_VALUE_ITERATION}):
            latest[(e.get("metric"), e.get("variant"))] = {
                "metric": e.get("metric"), "variant": e.get("variant"), "value": e.get("value"),
                "timestamp": e.get("timestamp")}
        out.append({"task": task_id, "task_name": task.get("name", ""), "values": list(latest.values())})
    return {"tasks": out}


@handles("events.scalar_metrics_iter_histogram")
def scalar_metrics_iter_histogram(call: Call) -> dict:
    """{metric: {variant: {name, x, y}}}: each scalar series of the task by iteration (or time)."""
    task = lookups.readable_task(call.scope, call.data["task"])
    key = call.data.get("key") or "iter"
    wanted = {m.get("metric"): set(m.get("variants") or []) for m in call.data.get("metrics") or []
              if isinstance(m, dict)}
    out: dict[str, dict] = {}
    for e in call.scope.events.task_events(task, [SCALAR], {"iter": {"$ne": SINGLE_VALUE_ITERATION}}):
        metric, variant = str(e.get("metric")), str(e.get("variant"))
        if wanted and (metric not in wanted or (wanted[metric] and variant not in wanted[metric])):
            continue
        series = out.setdefault(metric, {}).setdefault(variant, {"name": variant, "x": [], "y": []})
        series["x"].append(e.get("timestamp") if key in ("timestamp", "iso_time") else e.get("iter"))
        series["y"].append(e.get("value"))
    return out


@handles("events.get_task_plots")
def get_task_plots(call: Call) -> dict:
    """The task's plot events of its last `iters` iterations, newest iteration first."""
    task = lookups.readable_task(call.scope, call.data["task"])
    plots = call.scope.events.task_events(task, ["plot"])
    iterations = sorted({p.get("iter") for p in plots if isinstance(p.get("iter"), int)}, reverse=True)
    keep = set(iterations[: max(int(call.data.get("iters") or 1), 1)])
    shown = [{k: v for k, v in p.items() if k not in ("_id", "company", "received")}
             for p in reversed(plots) if p.get("iter") in keep]
    return {"plots": shown, "returned": len(shown), "total": len(plots), "scroll_id": None}
