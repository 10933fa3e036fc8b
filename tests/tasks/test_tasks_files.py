"""Stored model files go with the models tasks.reset/delete and projects.delete remove."""

from __future__ import annotations

from tests.files_support import visible_objects

V = "2.23"


def _model_with_file(client, task_id: str, name: str, project: str | None = None) -> str:
    model = client.ok("models.create", {"name": name, "uri": "file:///tmp/w.pt", "ready": False, "task": task_id,
                                        **({"project": project} if project else {})}, version=V)["id"]
    reply = client.raw(f"/v{V}/models.upload", body=b"weights of " + name.encode(), query_string=f"model={model}")
    assert reply.status_code == 200, reply.text
    return model


def _task(client, **extra) -> str:
    return client.ok("tasks.create", {"name": "files-task", "type": "training", **extra}, version=V)["id"]


def test_tasks_delete_removes_the_draft_models_files(alice, s3, bucket):
    tid = _task(alice)
    _model_with_file(alice, tid, "draft-one")
    assert len(visible_objects(s3, bucket)) == 1
    alice.ok("tasks.delete", {"task": tid, "force": True}, version=V)
    assert visible_objects(s3, bucket) == []


def test_delete_external_artifacts_false_keeps_the_files(alice, s3, bucket):
    tid = _task(alice)
    _model_with_file(alice, tid, "draft-two")
    reply = alice.ok("tasks.reset", {"task": tid, "delete_external_artifacts": False}, version=V)
    assert reply["deleted_models"] == 1
    assert len(visible_objects(s3, bucket)) == 1


def test_tasks_reset_and_projects_delete_remove_files(alice, s3, bucket):
    tid = _task(alice)
    _model_with_file(alice, tid, "draft-three")
    alice.ok("tasks.reset", {"task": tid}, version=V)
    assert visible_objects(s3, bucket) == []
    pid = alice.ok("projects.create", {"name": "files-project"}, version=V)["id"]
    other = _task(alice, project=pid)
    _model_with_file(alice, other, "in-project", project=pid)
    alice.ok("projects.delete", {"project": pid, "force": True, "delete_contents": True}, version=V)
    assert visible_objects(s3, bucket) == []
