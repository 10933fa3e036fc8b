"""The lineage graph of a model (modelreg extension, models.get_lineage).

Walks from the model up (its parent chain, the task that produced it, that task's input models, the
datasets linked to them) and down (models whose parent it is, tasks that used it as an input and the
models those tasks produced), one hop per level, to a depth limit. Only what the caller may read
becomes a node: an edge to another company's model is not shown.

Edges point the way data flows: parent -> child ("parent"), task -> its output model ("produced"),
input model -> task ("input"), dataset -> model ("dataset").
"""

from __future__ import annotations

from database.collections import tasks_db
from database.collections.scope import Scope

MODEL_FIELDS = {"_id": 1, "name": 1, "parent": 1, "task": 1, "version": 1}
TASK_FIELDS = {"_id": 1, "name": 1, "models.input": 1}
DATASET_FIELDS = {"_id": 1, "name": 1, "model": 1, "models": 1}


class _Graph:
    def __init__(self):
        self.nodes: dict[str, dict] = {}
        self.edges: dict[tuple, dict] = {}

    def add(self, kind: str, doc: dict) -> bool:
        """Adds a node; False when it was already there (the walk does not revisit it)."""
        if doc["_id"] in self.nodes:
            return False
        node = {"id": doc["_id"], "kind": kind, "name": doc.get("name") or ""}
        if kind == "model" and doc.get("version") is not None:
            node["version"] = doc["version"]
        self.nodes[doc["_id"]] = node
        return True

    def link(self, source: str, target: str, kind: str) -> None:
        self.edges[(source, target, kind)] = {"from": source, "to": target, "kind": kind}


def _datasets(scope: Scope, model_ids: list[str]) -> list[dict]:
    """Datasets linked to the models, when this server has a datasets resource at all."""
    datasets = getattr(scope, "datasets", None)
    if datasets is None or not model_ids:
        return []
    try:
        return datasets.find({"$or": [{"model": {"$in": model_ids}}, {"models": {"$in": model_ids}}]},
                             DATASET_FIELDS)
    except Exception:  # noqa: BLE001 - an optional resource of another shape must not break lineage
        return []


def _dataset_models(doc: dict, model_ids: set[str]) -> set[str]:
    linked = set(doc.get("models") or []) if isinstance(doc.get("models"), list) else set()
    if doc.get("model"):
        linked.add(doc["model"])
    return linked & model_ids


def _up(scope: Scope, graph: _Graph, models: list[dict], tasks: list[dict]) -> tuple[list[dict], list[dict]]:
    """One hop upstream of the given nodes; returns the newly reached models and tasks."""
    new_models: list[dict] = []
    new_tasks: list[dict] = []
    parent_ids = {m["parent"] for m in models if m.get("parent")}
    for parent in scope.models.get_many(parent_ids, MODEL_FIELDS):
        if graph.add("model", parent):
            new_models.append(parent)
    task_ids = {m["task"] for m in models if m.get("task")}
    for task in scope.tasks.get_many(task_ids, TASK_FIELDS):
        if graph.add("task", task):
            new_tasks.append(task)
    known = set(graph.nodes)
    for model in models:
        if model.get("parent") in known:
            graph.link(model["parent"], model["_id"], "parent")
        if model.get("task") in known:
            graph.link(model["task"], model["_id"], "produced")
    input_ids = {i for t in tasks for i in tasks_db.input_model_ids(t)}
    for model in scope.models.get_many(input_ids, MODEL_FIELDS):
        if graph.add("model", model):
            new_models.append(model)
    for task in tasks:
        for model_id in tasks_db.input_model_ids(task):
            if model_id in graph.nodes:
                graph.link(model_id, task["_id"], "input")
    ids = {m["_id"] for m in models}
    for dataset in _datasets(scope, list(ids)):
        graph.add("dataset", dataset)
        for model_id in _dataset_models(dataset, ids):
            graph.link(dataset["_id"], model_id, "dataset")
    return new_models, new_tasks


def _down(scope: Scope, graph: _Graph, models: list[dict], tasks: list[dict]) -> tuple[list[dict], list[dict]]:
    """One hop downstream of the given nodes; returns the newly reached models and tasks."""
    new_models: list[dict] = []
    new_tasks: list[dict] = []
    ids = [m["_id"] for m in models]
    for child in scope.model_versions.children(ids, MODEL_FIELDS):
        if graph.add("model", child):
            new_models.append(child)
        graph.link(child["parent"], child["_id"], "parent")
    users = scope.tasks.find({"models.input.model": {"$in": ids}}, TASK_FIELDS) if ids else []
    for task in users:
        if graph.add("task", task):
            new_tasks.append(task)
        for model_id in set(tasks_db.input_model_ids(task)) & set(ids):
            graph.link(model_id, task["_id"], "input")
    for output in scope.model_versions.made_by_tasks([t["_id"] for t in tasks], MODEL_FIELDS):
        if graph.add("model", output):
            new_models.append(output)
        graph.link(output["task"], output["_id"], "produced")
    return new_models, new_tasks


def lineage(scope: Scope, model: dict, depth: int) -> dict:
    graph = _Graph()
    root = {k: model.get(k) for k in MODEL_FIELDS} | {"_id": model["_id"]}
    graph.add("model", root)
    truncated = False
    for step in (_up, _down):
        models, tasks = [root], []
        for _ in range(depth):
            models, tasks = step(scope, graph, models, tasks)
            if not (models or tasks):
                break
        else:
            truncated = truncated or bool(models or tasks)
    return {"root": model["_id"], "depth": depth, "truncated": truncated,
            "nodes": list(graph.nodes.values()), "edges": list(graph.edges.values())}
