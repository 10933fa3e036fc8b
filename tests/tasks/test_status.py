"""The task status machine (protocol notes §8), driven through the status endpoints."""

from __future__ import annotations

import pytest

from tests.helpers import codes

V = "2.23"
STATUSES = ("created", "queued", "in_progress", "stopped", "publishing", "published", "closed", "failed",
            "completed", "unknown")
# Allowed moves, written out from the protocol notes (not imported from the code under test).
ALLOWED = {
    "created": {"queued", "in_progress"},
    "queued": {"created", "in_progress", "stopped"},
    "in_progress": {"stopped", "failed", "created", "completed"},
    "stopped": {"closed", "created", "failed", "queued", "in_progress", "published", "publishing", "completed"},
    "completed": {"published", "in_progress", "created"},
    "failed": {"created", "stopped", "published", "queued"},
    "closed": {"created", "failed", "published", "publishing", "stopped"},
    "publishing": {"published"},
    "published": set(),
    "unknown": set(),
}
ENDPOINTS = {
    "tasks.started": "in_progress",
    "tasks.stopped": "stopped",
    "tasks.failed": "failed",
    "tasks.completed": "completed",
    "tasks.publish": "published",
    "tasks.reset": "created",
}


def _task_in(client, status: str) -> str:
    tid = client.ok("tasks.create", {"name": "status-task", "type": "training"}, version=V)["id"]
    client.app.modelreg_state.stores.db["tasks"].update_one({"_id": tid}, {"$set": {"status": status}})
    return tid


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_transitions(client, endpoint):
    """Every current status against the endpoint's target (one database for all ten)."""
    target = ENDPOINTS[endpoint]
    for current in STATUSES:
        tid = _task_in(client, current)
        allowed = target == current or target in ALLOWED[current]
        if allowed:
            reply = client.ok(endpoint, {"task": tid}, version=V)
            assert reply["fields"]["status"] == target, current
        else:
            meta = client.error(endpoint, {"task": tid}, version=V)
            assert codes(meta) == (400, 110), current
            assert f"current_status={current}" in meta["result_msg"]
        status = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["status"]
        assert status == (target if allowed else current)


@pytest.mark.parametrize("current", ["published", "unknown", "created"])
def test_force_skips_the_check(client, current):
    tid = _task_in(client, current)
    assert client.ok("tasks.completed", {"task": tid, "force": True}, version=V)["fields"]["status"] == "completed"


def test_status_fields_are_written(client):
    tid = _task_in(client, "created")
    reply = client.ok("tasks.started", {"task": tid, "status_reason": "why", "status_message": "what"}, version=V)
    task = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]
    assert task["status_reason"] == "why" and task["status_message"] == "what"
    assert task["status_changed"] and task["last_changed_by"] == client.identity["user"]
    assert reply["fields"]["status_reason"] == "why"


def test_started_keeps_the_first_start_time(client):
    tid = _task_in(client, "created")
    client.ok("tasks.started", {"task": tid}, version=V)
    first = client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["started"]
    client.ok("tasks.stopped", {"task": tid}, version=V)
    client.ok("tasks.started", {"task": tid}, version=V)
    assert client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["started"] == first


def test_unknown_task(client, other_client):
    """started/stopped/failed/completed say 400/10 (as ClearML's tasks.started does), publish and reset
    400/101."""
    foreign = other_client.ok("tasks.create", {"name": "foreign", "type": "training"}, version=V)["id"]
    for endpoint in ENDPOINTS:
        expected = (400, 101) if endpoint in ("tasks.publish", "tasks.reset") else (400, 10)
        for task_id in ("nope", foreign):
            assert codes(client.error(endpoint, {"task": task_id}, version=V)) == expected, endpoint
