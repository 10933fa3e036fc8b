"""models.get_lineage over a task chain, the model card fields and models.validate_input
(modelreg 2.99 extensions), with company isolation."""

from __future__ import annotations

import pytest

from tests.helpers import codes

X = "2.99"
SIGNATURE = {
    "input": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "array", "items": {"type": "number"}, "minItems": 3},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1}}},
    "output": {"$defs": {"label": {"type": "string"}}, "type": "array", "items": {"$ref": "#/$defs/label"}},
}


def _model(client, name, **fields) -> str:
    return client.ok("models.create", {"name": name, "uri": f"s3://b/{name}", **fields}, version=X)["id"]


def _task(client, name, inputs=()) -> str:
    task = client.ok("tasks.create", {"name": name, "type": "training"}, version="2.13")["id"]
    for i, model in enumerate(inputs):
        client.ok("tasks.add_or_update_model", {"task": task, "name": f"in{i}", "model": model, "type": "input"},
                  version="2.13")
    return task


def _edges(graph) -> set[tuple[str, str, str]]:
    return {(e["from"], e["to"], e["kind"]) for e in graph["edges"]}


@pytest.fixture
def chain(client):
    """base -> (parent) finetuned; finetuned + helper -> train task -> distilled -> (parent) quantized;
    distilled -> eval task (input) -> report model."""
    base = _model(client, "base-model")
    finetuned = _model(client, "finetuned-model", parent=base)
    helper = _model(client, "helper-model")
    train = _task(client, "distill-task", [finetuned, helper])
    distilled = _model(client, "distilled-model", task=train)
    quantized = _model(client, "quantized-model", parent=distilled)
    evaluate = _task(client, "eval-task", [distilled])
    report = _model(client, "report-model", task=evaluate)
    return locals()


def test_lineage_walks_up_and_down(client, chain):
    graph = client.ok("models.get_lineage", {"model": chain["distilled"]}, version=X)
    nodes = {n["id"]: n for n in graph["nodes"]}
    c = chain
    assert set(nodes) == {c["base"], c["finetuned"], c["helper"], c["train"], c["distilled"], c["quantized"],
                          c["evaluate"], c["report"]}
    assert nodes[c["train"]]["kind"] == "task" and nodes[c["base"]]["name"] == "base-model"
    assert _edges(graph) == {
        (c["base"], c["finetuned"], "parent"),
        (c["finetuned"], c["train"], "input"),
        (c["helper"], c["train"], "input"),
        (c["train"], c["distilled"], "produced"),
        (c["distilled"], c["quantized"], "parent"),
        (c["distilled"], c["evaluate"], "input"),
        (c["evaluate"], c["report"], "produced"),
    }
    assert graph["root"] == c["distilled"] and graph["depth"] == 3


def test_lineage_depth_limit(client, chain):
    c = chain
    one = client.ok("models.get_lineage", {"model": c["distilled"], "depth": 1}, version=X)
    assert {n["id"] for n in one["nodes"]} == {c["distilled"], c["train"], c["quantized"], c["evaluate"]}
    assert one["truncated"] is True
    assert [n["id"] for n in client.ok("models.get_lineage", {"model": c["base"], "depth": 0},
                                       version=X)["nodes"]] == [c["base"]]
    meta = client.error("models.get_lineage", {"model": c["base"], "depth": 11}, version=X)
    assert codes(meta) == (400, 12) and "depth" in meta["result_msg"]


def test_lineage_of_another_company(client, other_client, chain):
    assert codes(other_client.error("models.get_lineage", {"model": chain["base"]}, version=X)) == (400, 201)
    # their model derived from ours cannot exist (parent must be readable), and ours never shows theirs
    assert codes(other_client.error("models.create", {"name": "theirs", "uri": "u", "parent": chain["base"]},
                                    version=X)) == (400, 16)


def test_card_fields_are_stored_and_shown(client):
    model_id = _model(client, "card-model", release_notes="first cut", license_url="https://l.example/MIT",
                      paper_url="https://arxiv.org/abs/1", source_url="https://git.example/m", signature=SIGNATURE)
    model = client.ok("models.get_by_id", {"model": model_id}, version=X)["model"]
    assert model["signature"] == SIGNATURE and model["release_notes"] == "first cut"
    assert model["license_url"] == "https://l.example/MIT"
    client.ok("models.edit", {"model": model_id, "release_notes": "second cut",
                              "signature": {"input": {"type": "string"}}}, version=X)
    model = client.ok("models.get_by_id", {"model": model_id}, version=X)["model"]
    assert model["release_notes"] == "second cut" and model["signature"] == {"input": {"type": "string"}}


def test_card_fields_are_ignored_at_clearml_versions(client):
    model_id = client.ok("models.create", {"name": "plain-model", "uri": "u", "release_notes": "x",
                                           "signature": {"input": {"type": "bogus"}}}, version="2.13")["id"]
    model = client.ok("models.get_by_id", {"model": model_id}, version="2.13")["model"]
    assert "release_notes" not in model and "signature" not in model


@pytest.mark.parametrize("signature, field", [
    ({"input": {"type": "bogus"}}, "signature.input"),
    ({"output": {"properties": {"a": {"minimum": "zero"}}}}, "signature.output"),
    ({"input": {"required": "image"}}, "signature.input"),
])
def test_bad_signatures_are_refused(client, signature, field):
    meta = client.error("models.create", {"name": "bad-card", "uri": "u", "signature": signature}, version=X)
    assert codes(meta) == (400, 12) and field in meta["result_msg"]
    model_id = _model(client, "good-card")
    meta = client.error("models.edit", {"model": model_id, "signature": signature}, version=X)
    assert codes(meta) == (400, 12) and field in meta["result_msg"]


def test_bad_card_urls_are_refused(client):
    meta = client.error("models.create", {"name": "bad-url", "uri": "u", "paper_url": "javascript:alert(1)"},
                        version=X)
    assert codes(meta) == (400, 12) and "paper_url" in meta["result_msg"]


def test_validate_input(client, other_client):
    model_id = _model(client, "signed-model", signature=SIGNATURE)
    good = client.ok("models.validate_input", {"model": model_id, "data": {"image": [1, 2, 3], "threshold": 0.5}},
                     version=X)
    assert good == {"valid": True, "errors": []}
    bad = client.ok("models.validate_input", {"model": model_id, "data": {"image": [1, "x"], "threshold": 2}},
                    version=X)
    assert bad["valid"] is False
    paths = sorted(e["path"] for e in bad["errors"])
    assert paths == ["image", "image/1", "threshold"]
    assert client.ok("models.validate_input", {"model": model_id, "data": []}, version=X)["valid"] is False
    unsigned = _model(client, "unsigned-model")
    meta = client.error("models.validate_input", {"model": unsigned, "data": {}}, version=X)
    assert codes(meta) == (400, 12) and "signature.input" in meta["result_msg"]
    meta = other_client.error("models.validate_input", {"model": model_id, "data": {}}, version=X)
    assert codes(meta) == (400, 201)
