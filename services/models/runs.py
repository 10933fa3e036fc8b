"""models.get_runs / add_run / get_experiments / get_datasets (modelreg extensions, 2.99): what is
around a model. A run of a model is a ClearML task that used it as an input or produced it as an
output; models.add_run makes an ordinary task of type `inference` with the model as its input, so the
ClearML SDK and web UI see it like any other task.
"""

from __future__ import annotations

import json

from services.call import Call
from services.handlers import handles
from services.records import model_data
from services.shared import lookups
from services.tasks import shapes

RUN_FIELDS = {"_id": 1, "name": 1, "type": 1, "status": 1, "started": 1, "completed": 1, "created": 1,
              "project": 1, "models": 1, "company": 1}


def _runs(call: Call, model: dict) -> list[dict]:
    model_id = model["_id"]
    condition = {"$or": [{"models.input.model": model_id}, {"models.output.model": model_id},
                         *([{"_id": model["task"]}] if model.get("task") else [])]}
    runs = []
    for task in call.scope.tasks.find(condition, RUN_FIELDS, sort=[("created", 1), ("_id", 1)]):
        models = task.get("models") or {}
        used = [e.get("model") for e in models.get("input") or []]
        made = [e.get("model") for e in models.get("output") or []]
        runs.append({
            "id": task["_id"], "name": task.get("name"), "type": task.get("type"), "status": task.get("status"),
            "created": task.get("created"), "started": task.get("started"), "completed": task.get("completed"),
            "project": task.get("project"),
            "input": model_id in used,
            "output": model_id in made or task["_id"] == model.get("task"),
        })
    return runs


@handles("models.get_runs")
def get_runs(call: Call) -> dict:
    model = lookups.readable_model(call.scope, call.data["model"], {"_id": 1, "task": 1})
    return {"runs": _runs(call, model)}


@handles("models.add_run")
def add_run(call: Call) -> dict:
    data = call.data
    model = lookups.readable_model(call.scope, data["model"], {"_id": 1, "name": 1, "project": 1})
    request = {
        "name": data["name"],
        "type": "inference",
        "comment": data.get("comment") or "",
        "models": {"input": [{"name": "Input Model", "model": model["_id"]}]},
    }
    project = data.get("project") or (model.get("project") if call.scope.projects.get_writable(
        model.get("project") or "") else None)
    if project:
        request["project"] = project
    if data.get("info"):
        # kept as a configuration object, which the web UI shows under the task's configuration
        request["configuration"] = {"run_info": {"name": "run_info", "type": "json",
                                                 "value": json.dumps(data["info"], sort_keys=True)}}
    doc = shapes.new_task_doc(call, request)
    call.scope.tasks.insert(doc)
    return {"id": doc["_id"], "model": model["_id"]}


@handles("models.get_experiments")
def get_experiments(call: Call) -> dict:
    model = lookups.readable_model(call.scope, call.data["model"], {"_id": 1, "task": 1, "project": 1})
    ids = list(dict.fromkeys(r["project"] for r in _runs(call, model) if r.get("project")))
    names = {p["_id"]: p.get("name") for p in call.scope.projects.get_many(ids, {"_id": 1, "name": 1})}
    return {"experiments": [{"id": i, "name": names[i]} for i in ids if i in names]}


@handles("models.get_datasets")
def get_datasets(call: Call) -> dict:
    model = lookups.readable_model(call.scope, call.data["model"], {"_id": 1})
    datasets = call.scope.datasets.of_model(model["_id"])
    return {"datasets": [model_data.render(d) for d in datasets]}
