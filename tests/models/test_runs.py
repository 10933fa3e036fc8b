"""models.get_runs / add_run / get_experiments / get_datasets: the tasks and datasets around a model."""

from __future__ import annotations

from tests.helpers import codes

V = "2.99"


def test_runs_experiments_and_datasets(client, other_client):
    project = client.ok("projects.create", {"name": "field trials", "description": "x"}, version="2.13")["id"]
    trainer = client.ok("tasks.create", {"name": "train", "type": "training", "project": project},
                        version="2.13")["id"]
    model = client.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt", "task": trainer,
                                        "project": project}, version="2.13")["id"]
    client.ok("tasks.add_or_update_model", {"task": trainer, "name": "out", "type": "output", "model": model},
              version="2.20")
    run = client.ok("models.add_run", {"model": model, "name": "nightly scoring", "info": {"site": "north"}},
                    version=V)
    assert run["model"] == model
    task = client.ok("tasks.get_by_id", {"task": run["id"]}, version="2.13")["task"]
    assert task["type"] == "inference" and task["project"] == project
    assert [e["model"] for e in task["models"]["input"]] == [model]
    assert task["configuration"]["run_info"]["value"] == '{"site": "north"}'

    runs = client.ok("models.get_runs", {"model": model}, version=V)["runs"]
    assert [(r["id"], r["type"], r["input"], r["output"]) for r in runs] == [
        (trainer, "training", False, True), (run["id"], "inference", True, False)]
    assert runs[1]["status"] == "created" and runs[1]["project"] == project

    other_project = client.ok("projects.create", {"name": "elsewhere", "description": "x"}, version="2.13")["id"]
    client.ok("models.add_run", {"model": model, "name": "second", "project": other_project}, version=V)
    experiments = client.ok("models.get_experiments", {"model": model}, version=V)["experiments"]
    assert experiments == [{"id": project, "name": "field trials"}, {"id": other_project, "name": "elsewhere"}]

    client.ok("datasets.create", {"model": model, "name": "b-set"}, version=V)
    client.ok("datasets.create", {"model": model, "name": "a-set"}, version=V)
    names = [d["name"] for d in client.ok("models.get_datasets", {"model": model}, version=V)["datasets"]]
    assert names == ["a-set", "b-set"]

    # another company sees nothing of a private model
    for endpoint in ("models.get_runs", "models.get_experiments", "models.get_datasets"):
        assert codes(other_client.error(endpoint, {"model": model}, version=V)) == (400, 201), endpoint
    assert codes(other_client.error("models.add_run", {"model": model, "name": "x"}, version=V)) == (400, 201)
    assert codes(client.error("models.add_run", {"model": model}, version=V)) == (400, 12)
    assert client.call("models.get_runs", {"model": model}, version="2.34").status_code == 404


def test_a_model_without_runs(client):
    model = client.ok("models.create", {"name": "lonely model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
    assert client.ok("models.get_runs", {"model": model}, version=V) == {"runs": []}
    assert client.ok("models.get_experiments", {"model": model}, version=V) == {"experiments": []}
    assert client.ok("models.get_datasets", {"model": model}, version=V) == {"datasets": []}
