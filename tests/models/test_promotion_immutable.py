"""Immutable published versions under an alias protection rule, and versions kept because a protected
alias named them. Models outside any rule keep ClearML's behaviour."""

from __future__ import annotations

import hashlib

import pytest

from tests.files.test_files_route import upload as upload_to_files
from tests.helpers import codes, make_user

X = "2.99"
NAME = "churn-model"


def _version(client, ready=True, name=NAME, **fields) -> str:
    return client.ok("models.create", {"name": name, "uri": "s3://b/v.pt", "ready": ready, "labels": {"a": 1},
                                       **fields}, version=X)["id"]


def _protect(client, **extra) -> None:
    client.ok("models.protect_alias", {"name": NAME, "alias": "production", "reviewers": {"roles": ["admin"]},
                                       **extra}, version=X)


def _get(client, model_id) -> dict:
    return client.ok("models.get_by_id", {"model": model_id}, version=X)["model"]


FROZEN_EDITS = [
    ("models.edit", {"uri": "s3://b/other.pt"}, "uri"),
    ("models.edit", {"design": {"design": "changed"}}, "design"),
    ("models.edit", {"labels": {"b": 2}}, "labels"),
    ("models.edit", {"signature": {"input": {"type": "object"}}}, "signature"),
    ("models.edit", {"name": "another-name"}, "name"),
    ("models.update", {"uri": "s3://b/other.pt"}, "uri"),
]


@pytest.mark.parametrize(("endpoint", "change", "field"), FROZEN_EDITS, ids=[f"{e}-{f}" for e, _, f in FROZEN_EDITS])
def test_a_published_version_under_a_rule_keeps_its_frozen_fields(client, endpoint, change, field):
    _protect(client)
    model = _version(client)
    before = _get(client, model)
    meta = client.error(endpoint, {"model": model, **change}, version=X)
    assert codes(meta) == (400, 1302) and field in meta["result_msg"] and "rule=" in meta["result_msg"]
    assert _get(client, model) == before


def test_description_tags_and_metadata_stay_editable(client):
    _protect(client)
    model = _version(client)
    client.ok("models.edit", {"model": model, "comment": "now documented", "uri": "s3://b/v.pt"}, version=X)
    client.ok("models.update", {"model": model, "comment": "again"}, version="2.13")
    client.ok("models.update_tags", {"ids": [model], "add_tags": ["reviewed"]}, version="2.27")
    metadata = [{"key": "auc", "type": "float", "value": "0.9"}]
    client.ok("models.add_or_update_metadata", {"model": model, "metadata": metadata}, version="2.13")
    client.ok("models.archive_many", {"ids": [model]}, version="2.13")
    after = _get(client, model)
    assert after["comment"] == "again" and "reviewed" in after["tags"] and after["metadata"]["auc"]["value"] == "0.9"


def test_a_draft_changes_freely_until_it_is_published(client):
    _protect(client)
    model = _version(client, ready=False)
    client.ok("models.edit", {"model": model, "uri": "s3://b/fixed.pt"}, version=X)
    client.ok("models.set_ready", {"model": model}, version="2.13")
    assert codes(client.error("models.edit", {"model": model, "uri": "s3://b/again.pt"}, version=X)) == (400, 1302)


def test_moving_a_frozen_version_to_another_project_is_refused_and_moves_nothing(client):
    _protect(client)
    project = client.ok("projects.create", {"name": "elsewhere", "description": "d"}, version="2.13")["id"]
    frozen, other = _version(client), _version(client, name="free-model")
    meta = client.error("models.move", {"ids": [other, frozen], "project": project}, version="2.13")
    assert codes(meta) == (400, 1302)
    assert _get(client, frozen).get("project") is None and _get(client, other).get("project") is None


def test_a_rule_can_leave_versions_mutable(client):
    _protect(client, immutable=False)
    model = _version(client)
    client.ok("models.edit", {"model": model, "uri": "s3://b/changed.pt"}, version=X)
    assert _get(client, model)["uri"] == "s3://b/changed.pt"


def test_models_outside_any_rule_keep_clearml_behaviour(client):
    _protect(client)
    model = _version(client, name="unruled-model")
    client.ok("models.edit", {"model": model, "uri": "s3://b/changed.pt", "labels": {"z": 9}}, version="2.13")
    client.ok("models.set_alias", {"model": model, "alias": "production"}, version=X)
    client.ok("models.delete", {"model": model}, version="2.13")


def test_a_version_a_protected_alias_named_cannot_be_deleted(client):
    company = client.identity["company"]
    reviewer = make_user(client.app, "rev", company, role="admin")
    old, new, never = _version(client), _version(client), _version(client)
    client.ok("models.set_alias", {"model": old, "alias": "production"}, version=X)
    _protect(client)  # the version named when the rule is made is kept too
    request = client.ok("promotions.create", {"model": new, "alias": "production"}, version=X)["id"]
    assert reviewer.ok("promotions.review", {"id": request, "decision": "approve"}, version=X)["state"] == "approved"
    for model in (old, new):  # named now, or named before
        meta = client.error("models.delete", {"model": model, "force": True}, version="2.13")
        assert codes(meta) == (400, 1303) and "archive" in meta["result_msg"]
        reply = client.ok("models.delete_many", {"ids": [model]}, version="2.13")
        assert reply["succeeded"] == [] and reply["failed"][0]["error"]["codes"] == [400, 1303]
    client.ok("models.archive_many", {"ids": [old]}, version="2.13")
    client.ok("models.delete", {"model": never}, version="2.13")
    assert _get(client, old) and _get(client, new)


def test_uploads_and_file_deletes_of_a_frozen_version_are_refused(alice, s3, bucket):
    _protect(alice)
    draft = _version(alice, ready=False)
    first = alice.raw(f"/v{X}/models.upload", body=b"weights v1", query_string=f"model={draft}")
    assert first.status_code == 200, first.text
    alice.ok("models.set_ready", {"model": draft}, version="2.13")
    stored = _get(alice, draft)
    again = alice.raw(f"/v{X}/models.upload", body=b"weights v2", query_string=f"model={draft}")
    assert again.status_code == 400 and again.json["meta"]["result_subcode"] == 1302
    assert codes(alice.error("models.delete_file", {"model": draft}, version=X)) == (400, 1302)
    assert _get(alice, draft)["uri"] == stored["uri"]
    assert stored["file"]["sha256"] == hashlib.sha256(b"weights v1").hexdigest()  # what deploy scripts check
    assert alice.raw(f"/v{X}/models.download", body={"model": draft}).content == b"weights v1"


def test_the_files_protocol_cannot_overwrite_or_delete_a_frozen_file(alice, s3, bucket):
    _protect(alice)
    # a version registered the ClearML SDK's way: weights uploaded to /files, then the uri pointing there
    sent = upload_to_files(alice, "proj/task.1/models/w.pt", b"sdk weights")
    assert sent.status_code == 200, sent.text
    model = _version(alice, ready=False)
    alice.ok("models.edit", {"model": model, "uri": "https://files.example/files/proj/task.1/models/w.pt"},
             version=X)
    alice.ok("models.set_ready", {"model": model}, version="2.13")
    overwrite = upload_to_files(alice, "proj/task.1/models/w.pt", b"swapped")
    assert overwrite.status_code == 400 and overwrite.json["meta"]["result_subcode"] == 1302
    assert alice.raw("/files/proj/task.1/models/w.pt", method="DELETE").status_code == 400
    assert alice.raw("/files/proj/task.1/models/w.pt", method="GET").content == b"sdk weights"
    # other paths of the company are untouched by the rule
    assert upload_to_files(alice, "proj/task.1/models/other.pt", b"x").status_code == 200


@pytest.mark.parametrize("delete_contents", [True, False])
def test_deleting_a_project_that_holds_governed_versions_is_refused_whole(client, delete_contents):
    project = client.ok("projects.create", {"name": "governed-project", "description": "d"}, version="2.13")["id"]
    free = _version(client, name="free-model", project=project)
    frozen = _version(client, project=project)
    client.ok("models.set_alias", {"model": frozen, "alias": "production"}, version=X)
    client.ok("models.protect_alias", {"project": project, "name": NAME, "alias": "production",
                                       "reviewers": {"roles": ["admin"]}}, version=X)
    meta = client.error("projects.delete", {"project": project, "force": True, "delete_contents": delete_contents},
                        version="2.13")
    assert codes(meta)[0] == 400
    assert _get(client, free)["project"] == project and _get(client, frozen)["project"] == project


def test_the_sdks_whole_model_edit_passes_when_only_free_fields_change(client):
    """The ClearML SDK's `m.tags = [...]` sends the whole model back through models.edit."""
    _protect(client)
    model = _version(client, design={"design": "layers: 3"}, framework="PyTorch", comment="c")
    read = client.ok("models.get_by_id", {"model": model}, version="2.23")["model"]
    whole = {k: read.get(k) for k in ("uri", "name", "comment", "tags", "system_tags", "framework", "design",
                                      "labels", "project")}
    client.ok("models.edit", {"model": model, **whole, "tags": ["prod"], "comment": "new"}, version="2.23")
    changed = {**whole, "design": {"design": "layers: 4"}}
    assert codes(client.error("models.edit", {"model": model, **changed}, version="2.23")) == (400, 1302)
    assert _get(client, model)["tags"] == ["prod"]
