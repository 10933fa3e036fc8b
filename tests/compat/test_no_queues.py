"""No queues here: listing them answers ClearML's empty shape, enqueueing a clear 400 instead of a 404.

Shapes read from clearml-server apiserver/schema/services/queues.conf `get_all` (reply `{queues: [...]}`)
and apiserver/services/tasks.py `enqueue` / `enqueue_many`; the error is ClearML's invalid queue id
(400/701), which apiserver/bll/queue raises for a queue it cannot find.
"""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def test_queues_get_all_is_an_empty_list_at_every_version(client):
    for version in ("2.4", "2.15", V):
        assert client.ok("queues.get_all", {"name": "^default$", "only_fields": ["id"]}, version=version) == {
            "queues": []}


def test_enqueue_answers_a_clear_not_supported_error_and_changes_nothing(client):
    tid = client.ok("tasks.create", {"name": "to-enqueue", "type": "training"}, version=V)["id"]
    meta = client.error("tasks.enqueue", {"task": tid, "queue_name": "default"}, version=V)
    assert codes(meta) == (400, 701) and "not supported by this server" in meta["result_msg"]
    meta = client.error("tasks.enqueue_many", {"ids": [tid]}, version=V)
    assert codes(meta) == (400, 701) and "not supported by this server" in meta["result_msg"]
    assert client.ok("tasks.get_by_id", {"task": tid}, version=V)["task"]["status"] == "created"
