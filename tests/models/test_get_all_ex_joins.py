"""The joins of models.get_all_ex and tasks.get_all_ex (`project.name`, `user.name`, `task.name`,
`parent.name`): one scoped query per joined resource for the whole page, never one per document, and
only what the caller's company may read (ClearML joins users of the caller's company only)."""

from __future__ import annotations

from collections import Counter

import pytest
from pymongo import MongoClient, monitoring

from tests.helpers import make_user

V = "2.23"
READS = ("find", "aggregate", "count", "distinct")


class _Reads(monitoring.CommandListener):
    """The reads the app sends, per collection."""

    def __init__(self):
        self.seen: Counter = Counter()

    def started(self, event):
        if event.command_name in READS:
            self.seen[event.command[event.command_name]] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def reads(app, mongo_uri):
    """The app's reads counted: its database handle swapped for one on a client that listens."""
    listener = _Reads()
    stores = app.modelreg_state.stores
    original = stores.db
    listening = MongoClient(mongo_uri, tz_aware=True, uuidRepresentation="standard", event_listeners=[listener])
    stores.db = listening[original.name]
    stores.__dict__.pop("collections", None)  # made again over the listening handle
    yield listener
    # the app may be the worker's shared one: give it back its own handle (objects made over the original,
    # such as its long-read slots, still use it) and close the listening client
    stores.db = original
    stores.__dict__.pop("collections", None)
    listening.close()


@pytest.fixture
def page(app, reads, client, other_client):
    """Six models of two users of the caller's company over two projects, two tasks and parents; and a public
    model of company B's user."""
    carol = make_user(app, "carol", client.identity["company"])
    projects = [client.ok("projects.create", {"name": f"joins-{i}", "description": ""}, version=V)["id"]
                for i in range(2)]
    tasks = [client.ok("tasks.create", {"name": f"train-{i}", "type": "training"}, version=V)["id"] for i in range(2)]
    root = client.ok("models.create", {"name": "root", "uri": "s3://b/root.pt"}, version=V)["id"]
    ids = [root]
    for i in range(5):
        author = client if i % 2 else carol
        fields = {"name": f"model-{i}", "uri": f"s3://b/m{i}.pt", "project": projects[i % 2], "parent": ids[-1]}
        if author is client:
            fields["task"] = tasks[i % 2]
        ids.append(author.ok("models.create", fields, version=V)["id"])
    shared = other_client.ok("models.create", {"name": "shared", "uri": "s3://b/s.pt", "public": True},
                             version=V)["id"]
    return {"models": ids, "shared": shared, "projects": projects, "tasks": tasks, "carol": carol}


def test_each_joined_resource_is_read_once_per_page(client, reads, page):
    fields = ["name", "project.name", "user.name", "task.name", "parent.name"]
    reads.seen.clear()
    models = client.ok("models.get_all_ex", {"only_fields": fields, "order_by": ["name"]}, version=V)["models"]
    assert len(models) == 7
    # the page itself, then one query each for the parents, projects, tasks and users of the page
    assert reads.seen["models"] == 2 and reads.seen["projects"] == 1, reads.seen
    assert reads.seen["tasks"] == 1 and reads.seen["users"] == 1, reads.seen
    by_name = {m["name"]: m for m in models}
    assert by_name["model-1"]["user"] == {"id": client.identity["user"], "name": "alice"}
    assert by_name["model-0"]["user"] == {"id": page["carol"].identity["user"], "name": "carol"}
    assert by_name["model-1"]["parent"] == {"id": by_name["model-0"]["id"], "name": "model-0"}
    assert by_name["model-1"]["project"]["name"] == "joins-1" and by_name["model-1"]["task"]["name"] == "train-1"


def test_the_user_join_shows_only_users_of_the_callers_company(client, other_client, page):
    query = {"id": [page["shared"], page["models"][2]], "only_fields": ["name", "user.name"], "order_by": ["name"]}
    mine, shared = client.ok("models.get_all_ex", query, version=V)["models"]
    assert mine["user"] == {"id": client.identity["user"], "name": "alice"}
    # a public model of another company: its author's id, never their name
    assert shared["user"] == {"id": other_client.identity["user"]}
    [own] = other_client.ok("models.get_all_ex", {"id": [page["shared"]], "only_fields": ["user.name"]},
                            version=V)["models"]
    assert own["user"] == {"id": other_client.identity["user"], "name": "bob"}


def test_task_listings_join_users_the_same_way(client, other_client, page):
    other_client.ok("tasks.create", {"name": "foreign", "type": "training"}, version=V)
    tasks = client.ok("tasks.get_all_ex", {"only_fields": ["name", "user.name"], "order_by": ["name"]},
                      version=V)["tasks"]
    assert [t["name"] for t in tasks] == ["train-0", "train-1"]
    assert all(t["user"] == {"id": client.identity["user"], "name": "alice"} for t in tasks)
