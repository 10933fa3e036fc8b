"""Generated from the schema registry: every writing endpoint (those whose `allow_roles` leave out the
read-only roles), called with a request that really changes something, leaves its entry in the change
log: its kind, its target and the caller. An endpoint this file cannot build a request for is listed
in UNBUILDABLE with its reason, and a read closed to read-only roles in NOT_WRITES, so a new writing
endpoint fails here until it is covered."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.helpers import COMPANY_A, ApiClient, make_user, shipped_registry
from tests.webhook_support import Receiver

NOT_WRITES = {  # closed to read-only roles, but they change nothing
    "audit.get_all": "reads the audit trail (admins and auditors)",
    "audit.verify": "recomputes the hash chain",
    "changes.get_since": "reads the change feed",
    "auth.get_companies": "lists companies (server-level roles)",
    "auth.get_users": "lists users (admins)",
    "server.report_stats_option": "answers ClearML's statistics opt-in without storing it",
    "uploads.exists": "looks up whether the company holds a content",
    "webhooks.get_all": "lists the company's webhooks (admins)",
    "webhooks.get_deliveries": "lists a webhook's deliveries (admins)",
}
NO_ENTRY = {  # writing endpoints that always refuse here: called, they must leave no entry
    "tasks.enqueue": ("2.1", lambda w: {"task": w["task"], "queue": "q"}),
    "tasks.enqueue_many": ("2.13", lambda w: {"ids": [w["task"]], "queue": "q"}),
}
UNBUILDABLE = {
    "models.import_url": "fetches from another machine; its file entry is covered by tests/files/test_import_url.py",
}

ITEM = [{"key": "k", "type": "str", "value": "v"}]
CONTENT = b"upload me"
SHA = hashlib.sha256(CONTENT).hexdigest()
HOOK_SECRET = "hook-secret-" + "z" * 24
NDJSON = {"Content-Type": "application/x-ndjson"}
# who calls, when not the world's admin: a role of the same company
CALLERS = {"users.delete": "root"}
# entries a call leaves besides its case's: (kind, target type)
ALSO = {
    "promotions.review": [("alias.moved", "registered_model"), ("model.aliases_synced", "model")],
    "models.break_glass_alias": [("model.aliases_synced", "model")],
    "uploads.complete": [("upload.completed", "upload")],
    "uploads.start": [("content.created", "content")],
    "users.delete": [("credential.revoked", "credential")],
}
# text an entry's changes must hold: the break-glass move records its reason
MENTIONS = {"models.break_glass_alias": '"break_glass": {"reason": "outage"}'}
ANY = None  # any target id of the expected type


def _setup(c: ApiClient, w: dict, step: str) -> None:
    """Preparations some requests need."""
    if step == "alias":
        c.ok("models.set_alias", {"model": w["model"], "alias": "prod"}, version="2.99")
    elif step == "upload":
        assert c.raw("/v2.13/models.upload", body=b"weights", query_string=f"model={w['model']}&filename=w.bin"
                     ).status_code == 200
    elif step == "record_upload":
        assert c.raw("/v2.99/records.upload", body=b"data", query_string=f"record={w['record']}&filename=r.txt"
                     ).status_code == 200
    elif step == "metadata":
        c.ok("models.add_or_update_metadata", {"model": w["model"], "metadata": ITEM}, version="2.13")
    elif step == "public":
        c.ok("models.make_public", {"ids": [w["model"]]}, version="2.9")
    elif step == "archive_model":
        c.ok("models.archive_many", {"ids": [w["model"]]}, version="2.13")
    elif step == "archive_task":
        c.ok("tasks.archive_many", {"ids": [w["task"]]}, version="2.13")
    elif step == "started":
        c.ok("tasks.started", {"task": w["task"]}, version="2.1")
    elif step == "artifact":
        c.ok("tasks.add_or_update_artifacts", {"task": w["task"], "artifacts": [{"key": "a", "type": "x",
                                                                                "mode": "output"}]}, version="2.10")
    elif step == "configuration":
        c.ok("tasks.edit_configuration", {"task": w["task"], "configuration": [{"name": "c", "value": "v"}]},
             version="2.9")
    elif step == "hyperparams":
        c.ok("tasks.edit_hyper_params", {"task": w["task"], "hyperparams": [{"section": "s", "name": "p",
                                                                             "value": "1"}]}, version="2.9")
    elif step == "task_model":
        c.ok("tasks.add_or_update_model", {"task": w["task"], "name": "in", "model": w["model"], "type": "input"},
             version="2.13")
    elif step == "credentials":
        w["access_key"] = c.ok("auth.create_credentials", {}, version="2.1")["credentials"]["access_key"]
    elif step == "user":
        w["user"] = c.ok("auth.create_user", {"name": "temp"}, version="2.1")["id"]
    elif step == "ready":
        c.ok("models.set_ready", {"model": w["model"]}, version="2.1")
    elif step == "protect":
        c.ok("models.protect_alias", {"name": "m-world", "alias": "prod", "reviewers": {"roles": ["admin"]}},
             version="2.99")
    elif step == "request":  # made by another writer, so the admin may review it
        writer = make_user(c.app, "writer", c.identity["company"])
        w["promotion"] = writer.ok("promotions.create", {"model": w["model"], "alias": "prod", "reason": "r"},
                                   version="2.99")["id"]
    elif step == "own_request":
        w["promotion"] = c.ok("promotions.create", {"model": w["model"], "alias": "prod", "reason": "r"},
                              version="2.99")["id"]
    elif step == "upload_session":
        w["upload"] = c.ok("uploads.start", {"size": len(CONTENT), "sha256": SHA}, version="2.99")["upload"]
    elif step == "part":
        assert c.raw("/v2.99/uploads.put_part", body=CONTENT, method="PUT",
                     query_string=f"upload={w['upload']}&part=1").status_code == 200
    elif step == "webhook":
        w["webhook"] = c.ok("webhooks.create", {"url": w["receiver"], "kinds": ["*"], "secret": HOOK_SECRET},
                            version="2.99")["id"]
    else:
        raise AssertionError(step)


# endpoint: (version, request built from the world, [setup steps], expected kind, target type, target key)
# A target key names the world's id; "reply:<field>" the reply's; ANY any id.
CASES = {
    "models.add_or_update_metadata": ("2.13", lambda w: {"model": w["model"], "metadata": ITEM}, [],
                                      "model.metadata_updated", "model", "model"),
    "models.add_run": ("2.99", lambda w: {"model": w["model"], "name": "run"}, [], "task.created", "task", ANY),
    "models.archive_many": ("2.13", lambda w: {"ids": [w["model"]]}, [], "model.archived", "model", "model"),
    "models.create": ("2.99", lambda w: {"name": "new", "uri": "s3://b/n.pt"}, [], "model.created", "model",
                      "reply:id"),
    "models.delete": ("2.13", lambda w: {"model": w["model"], "force": True}, [], "model.deleted", "model", "model"),
    "models.delete_alias": ("2.99", lambda w: {"model": w["model"], "alias": "prod"}, ["alias"], "alias.deleted",
                            "registered_model", ANY),
    "models.delete_file": ("2.13", lambda w: {"model": w["model"]}, ["upload"], "file.deleted", "file", ANY),
    "models.delete_many": ("2.13", lambda w: {"ids": [w["model"]], "force": True}, [], "model.deleted", "model",
                           "model"),
    "models.delete_metadata": ("2.13", lambda w: {"model": w["model"], "keys": ["k"]}, ["metadata"],
                               "model.metadata_deleted", "model", "model"),
    "models.edit": ("2.99", lambda w: {"model": w["model"], "comment": "c"}, [], "model.edited", "model", "model"),
    "models.make_private": ("2.9", lambda w: {"ids": [w["model"]]}, ["public"], "model.made_private", "model",
                            "model"),
    "models.make_public": ("2.9", lambda w: {"ids": [w["model"]]}, [], "model.made_public", "model", "model"),
    "models.move": ("2.12", lambda w: {"ids": [w["model"]], "project": w["project"]}, [], "model.moved", "model",
                    "model"),
    "models.publish_many": ("2.13", lambda w: {"ids": [w["model"]]}, [], "model.published", "model", "model"),
    "models.set_alias": ("2.99", lambda w: {"model": w["model"], "alias": "prod"}, [], "alias.moved",
                         "registered_model", ANY),
    "models.set_ready": ("2.1", lambda w: {"model": w["model"]}, [], "model.set_ready", "model", "model"),
    "models.unarchive_many": ("2.13", lambda w: {"ids": [w["model"]]}, ["archive_model"], "model.unarchived",
                              "model", "model"),
    "models.update": ("2.13", lambda w: {"model": w["model"], "comment": "c"}, [], "model.updated", "model", "model"),
    "models.update_for_task": ("2.1", lambda w: {"task": w["task"], "uri": "s3://b/o.pt", "name": "out"}, [],
                               "model.output_updated", "model", ANY),
    "models.update_tags": ("2.27", lambda w: {"ids": [w["model"]], "add_tags": ["t"]}, [], "model.tags_updated",
                           "model", "model"),
    "models.upload": ("2.13", None, [], "file.uploaded", "file", ANY),
    "projects.create": ("2.1", lambda w: {"name": "p-new"}, [], "project.created", "project", "reply:id"),
    "projects.delete": ("2.1", lambda w: {"project": w["project"]}, [], "project.deleted", "project", "project"),
    "projects.update": ("2.1", lambda w: {"project": w["project"], "description": "d"}, [], "project.updated",
                        "project", "project"),
    "tasks.add_or_update_artifacts": ("2.10", lambda w: {"task": w["task"], "artifacts": [
        {"key": "a", "type": "x", "mode": "output"}]}, [], "task.artifacts_updated", "task", "task"),
    "tasks.add_or_update_model": ("2.13", lambda w: {"task": w["task"], "name": "in", "model": w["model"],
                                                     "type": "input"}, [], "task.model_set", "task", "task"),
    "tasks.archive_many": ("2.13", lambda w: {"ids": [w["task"]]}, [], "task.archived", "task", "task"),
    "tasks.clone": ("2.13", lambda w: {"task": w["task"]}, [], "task.cloned", "task", "reply:id"),
    "tasks.completed": ("2.20", lambda w: {"task": w["task"], "force": True}, ["started"], "task.completed", "task",
                        "task"),
    "tasks.create": ("2.13", lambda w: {"name": "t-new", "type": "training"}, [], "task.created", "task", "reply:id"),
    "tasks.delete": ("2.21", lambda w: {"task": w["task"]}, [], "task.deleted", "task", "task"),
    "tasks.delete_artifacts": ("2.10", lambda w: {"task": w["task"], "artifacts": [{"key": "a", "mode": "output"}]},
                               ["artifact"], "task.artifacts_deleted", "task", "task"),
    "tasks.delete_configuration": ("2.9", lambda w: {"task": w["task"], "configuration": ["c"]}, ["configuration"],
                                   "task.configuration_deleted", "task", "task"),
    "tasks.delete_hyper_params": ("2.9", lambda w: {"task": w["task"], "hyperparams": [{"section": "s",
                                                                                         "name": "p"}]},
                                  ["hyperparams"], "task.hyper_params_deleted", "task", "task"),
    "tasks.delete_many": ("2.13", lambda w: {"ids": [w["task"]]}, [], "task.deleted", "task", "task"),
    "tasks.delete_models": ("2.13", lambda w: {"task": w["task"], "models": [{"name": "in", "type": "input"}]},
                            ["task_model"], "task.models_deleted", "task", "task"),
    "tasks.edit": ("2.13", lambda w: {"task": w["task"], "comment": "c"}, [], "task.edited", "task", "task"),
    "tasks.edit_configuration": ("2.9", lambda w: {"task": w["task"], "configuration": [{"name": "c",
                                                                                          "value": "v"}]},
                                 [], "task.configuration_edited", "task", "task"),
    "tasks.edit_hyper_params": ("2.9", lambda w: {"task": w["task"], "hyperparams": [{"section": "s", "name": "p",
                                                                                       "value": "1"}]},
                                [], "task.hyper_params_edited", "task", "task"),
    "tasks.failed": ("2.1", lambda w: {"task": w["task"], "force": True}, ["started"], "task.failed", "task", "task"),
    "tasks.move": ("2.12", lambda w: {"ids": [w["task"]], "project": w["project"]}, [], "task.moved", "task", "task"),
    "tasks.ping": ("2.1", lambda w: {"task": w["task"]}, ["started"], "task.pinged", "task", "task"),
    "tasks.publish": ("2.1", lambda w: {"task": w["task"], "force": True}, [], "task.published", "task", "task"),
    "tasks.publish_many": ("2.13", lambda w: {"ids": [w["task"]], "force": True}, [], "task.published", "task",
                           "task"),
    "tasks.reset": ("2.21", lambda w: {"task": w["task"], "force": True}, ["started"], "task.reset", "task", "task"),
    "tasks.reset_many": ("2.13", lambda w: {"ids": [w["task"]], "force": True}, ["started"], "task.reset", "task",
                         "task"),
    "tasks.set_requirements": ("2.1", lambda w: {"task": w["task"], "requirements": {"pip": "x"}}, [],
                               "task.requirements_set", "task", "task"),
    "tasks.started": ("2.1", lambda w: {"task": w["task"]}, [], "task.started", "task", "task"),
    "tasks.stop_many": ("2.13", lambda w: {"ids": [w["task"]], "force": True}, ["started"], "task.stopped", "task",
                        "task"),
    "tasks.stopped": ("2.1", lambda w: {"task": w["task"], "force": True}, ["started"], "task.stopped", "task",
                      "task"),
    "tasks.unarchive_many": ("2.13", lambda w: {"ids": [w["task"]]}, ["archive_task"], "task.unarchived", "task",
                             "task"),
    "tasks.update_tags": ("2.27", lambda w: {"ids": [w["task"]], "add_tags": ["t"]}, [], "task.tags_updated", "task",
                          "task"),
    "datasets.create": ("2.99", lambda w: {"name": "d-new", "model": w["model"]}, [], "dataset.created", "dataset",
                        "reply:id"),
    "datasets.delete": ("2.99", lambda w: {"dataset": w["dataset"]}, [], "dataset.deleted", "dataset", "dataset"),
    "datasets.edit": ("2.99", lambda w: {"dataset": w["dataset"], "info": {"a": 1}}, [], "dataset.edited", "dataset",
                      "dataset"),
    "records.add": ("2.99", lambda w: {"model": w["model"], "site": "s2"}, [], "record.added", "record", ANY),
    "records.delete": ("2.99", lambda w: {"record": w["record"]}, [], "record.deleted", "record", "record"),
    "records.delete_file": ("2.99", lambda w: {"record": w["record"]}, ["record_upload"], "file.deleted", "file", ANY),
    "records.delete_many": ("2.99", lambda w: {"ids": [w["record"]]}, [], "record.deleted", "record", "record"),
    "records.edit": ("2.99", lambda w: {"record": w["record"], "site": "s3"}, [], "record.edited", "record", "record"),
    "records.upload": ("2.99", None, [], "file.uploaded", "file", ANY),
    "events.add": ("2.1", lambda w: {"task": w["task"], "type": "log", "msg": "x"}, [], "event.added", "event", ANY),
    "events.add_batch": ("2.1", None, [], "event.added", "event", ANY),
    "auth.create_credentials": ("2.1", lambda w: {}, [], "credential.created", "credential", ANY),
    "auth.create_user": ("2.1", lambda w: {"name": "someone"}, [], "user.created", "user", "reply:id"),
    "auth.delete_user": ("2.1", lambda w: {"user": w["user"]}, ["user"], "user.deleted", "user", "user"),
    "auth.revoke_credentials": ("2.1", lambda w: {"access_key": w["access_key"]}, ["credentials"],
                                "credential.revoked", "credential", "access_key"),
    "users.set_preferences": ("2.1", lambda w: {"preferences": {"a": 1}}, [], "preferences.set", "preferences", ANY),
    "users.update": ("2.23", lambda w: {"user": w["user"], "name": "renamed"}, ["user"], "user.updated", "user",
                     "user"),
    "users.delete": ("2.23", lambda w: {"user": w["user"]}, ["user"], "user.deleted", "user", "user"),
    "models.protect_alias": ("2.99", lambda w: {"name": "m-world", "alias": "prod",
                                                "reviewers": {"roles": ["admin"]}}, [], "alias.protected",
                             "alias_rule", "reply:id"),
    "models.unprotect_alias": ("2.99", lambda w: {"name": "m-world", "alias": "prod"}, ["protect"],
                               "alias.unprotected", "alias_rule", ANY),
    "models.break_glass_alias": ("2.99", lambda w: {"model": w["model"], "alias": "prod", "reason": "outage"},
                                 ["ready", "protect"], "alias.moved", "registered_model", ANY),
    "promotions.create": ("2.99", lambda w: {"model": w["model"], "alias": "prod", "reason": "better"},
                          ["ready", "protect"], "promotion.created", "promotion", "reply:id"),
    "promotions.review": ("2.99", lambda w: {"id": w["promotion"], "decision": "approve"},
                          ["ready", "protect", "request"], "promotion.reviewed", "promotion", "promotion"),
    "promotions.cancel": ("2.99", lambda w: {"id": w["promotion"]}, ["ready", "protect", "own_request"],
                          "promotion.cancelled", "promotion", "promotion"),
    "records.add_many": ("2.99", None, [], "record.added", "record", ANY),
    "uploads.start": ("2.99", lambda w: {"size": len(CONTENT), "sha256": SHA}, [], "upload.started", "upload",
                      "reply:upload"),
    "uploads.put_part": ("2.99", None, ["upload_session"], "upload.part_received", "upload", "upload"),
    "uploads.complete": ("2.99", lambda w: {"upload": w["upload"], "sha256": SHA}, ["upload_session", "part"],
                         "file.uploaded", "file", ANY),
    "uploads.abort": ("2.99", lambda w: {"upload": w["upload"]}, ["upload_session"], "upload.aborted", "upload",
                      "upload"),
    "webhooks.create": ("2.99", lambda w: {"url": w["receiver"], "kinds": ["model.*"], "secret": HOOK_SECRET}, [],
                        "webhook.created", "webhook", "reply:id"),
    "webhooks.edit": ("2.99", lambda w: {"webhook": w["webhook"], "kinds": ["*"], "secret": HOOK_SECRET + "2"},
                      ["webhook"], "webhook.edited", "webhook", "webhook"),
    "webhooks.delete": ("2.99", lambda w: {"webhook": w["webhook"]}, ["webhook"], "webhook.deleted", "webhook",
                        "webhook"),
    "webhooks.test": ("2.99", lambda w: {"webhook": w["webhook"]}, ["webhook"], "webhook.tested",
                      "webhook_delivery", "reply:delivery"),
    "webhooks.redeliver": ("2.99", lambda w: {"webhook": w["webhook"]}, ["webhook"], "webhook.redelivered",
                           "webhook", "webhook"),
}


def _writes() -> list[str]:
    registry = shipped_registry()
    return sorted(name for name, versions in registry.endpoints.items()
                  if versions[-1].authorize is not False and not versions[-1].role_allowed("guest"))


def test_every_writing_endpoint_has_a_case_or_a_reason():
    listed = set(CASES) | set(UNBUILDABLE) | set(NOT_WRITES) | set(NO_ENTRY)
    assert sorted(set(_writes()) - listed) == [], "a writing endpoint without a change-log case"
    assert sorted(listed - set(_writes())) == []


@pytest.fixture
def private_outbound(app_config):
    app_config.put("outbound.allow_private_networks", True)  # webhooks call a receiver on this machine


@pytest.fixture
def files_app(private_outbound, files_app):
    return files_app


@pytest.fixture(scope="module")
def receiver():
    remote = Receiver()
    yield remote
    remote.close()


def _world(c: ApiClient, receiver: Receiver) -> dict:
    w = {"receiver": receiver.url("hook"),"project": c.ok("projects.create", {"name": "p-world"}, version="2.13")["id"],
         "model": c.ok("models.create", {"name": "m-world", "uri": "s3://b/w.pt", "ready": False},
                       version="2.13")["id"],
         "task": c.ok("tasks.create", {"name": "t-world", "type": "training", "script": {"repository": "r"}},
                      version="2.13")["id"]}
    w["dataset"] = c.ok("datasets.create", {"name": "d-world", "model": w["model"]}, version="2.99")["id"]
    w["record"] = c.ok("records.add", {"model": w["model"], "site": "s1"}, version="2.99")["record"]["id"]
    return w


def _call(c: ApiClient, name: str, version: str, build, w: dict):
    if name == "models.upload":
        return c.raw(f"/v{version}/{name}", body=b"w", query_string=f"model={w['model']}&filename=x.bin")
    if name == "records.upload":
        return c.raw(f"/v{version}/{name}", body=b"r", query_string=f"record={w['record']}&filename=x.txt")
    if name == "records.add_many":
        body = "".join(json.dumps({"site": f"s{n}"}) + "\n" for n in range(2))
        return c.raw(f"/v{version}/{name}", body=body, headers=NDJSON, query_string=f"model={w['model']}")
    if name == "uploads.put_part":
        return c.raw(f"/v{version}/{name}", body=CONTENT, method="PUT", query_string=f"upload={w['upload']}&part=1")
    if name == "events.add_batch":
        line = json.dumps({"task": w["task"], "type": "log", "msg": "x"})
        return c.raw(f"/v{version}/{name}", body=line, headers={"Content-Type": "application/json-lines"})
    return c.raw(f"/v{version}/{name}", body=build(w))


def _entries_after(c: ApiClient, cursor) -> list[dict]:
    return c.ok("changes.get_since", {"cursor": cursor, "limit": 1000}, version="2.99")["entries"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_write_leaves_its_entry(files_app, alice, receiver, name):
    version, build, steps, kind, target_type, target_key = CASES[name]
    w = _world(alice, receiver)
    for step in steps:
        _setup(alice, w, step)
    caller = make_user(files_app, "caller", COMPANY_A, role=CALLERS[name]) if name in CALLERS else alice
    before = alice.ok("changes.get_since", {}, version="2.99")["cursor"]
    reply = _call(caller, name, version, build, w)
    assert reply.status_code == 200, reply.text[:400]
    data = reply.json.get("data") or {} if reply.headers.get("content-type", "").startswith("application/json") else {}
    entries = _entries_after(alice, before)
    assert entries, f"{name} left no entry"
    assert {e["endpoint"] for e in entries} == {name}
    assert {e["user"] for e in entries} == {caller.identity["user"]}
    assert HOOK_SECRET not in json.dumps(entries), "a webhook's secret reached the change log"
    assert all(e["changes"]["before"] or e["changes"]["after"] for e in entries), "an entry of no change"
    seen = {(e["kind"], e["target"]["type"]) for e in entries}
    assert set(ALSO.get(name, [])) <= seen, seen
    assert MENTIONS.get(name, "") in json.dumps([e["changes"] for e in entries])
    if target_key is None:
        wanted = None
    elif target_key.startswith("reply:"):
        wanted = data[target_key.split(":", 1)[1]]
    else:
        wanted = w[target_key]
    matching = [e for e in entries if e["kind"] == kind and e["target"]["type"] == target_type
                and (wanted is None or e["target"]["id"] == wanted)]
    assert matching, [(e["kind"], e["target"]) for e in entries]


@pytest.mark.parametrize("name", sorted(NO_ENTRY))
def test_a_refused_write_leaves_no_entry(files_app, alice, receiver, name):
    version, build = NO_ENTRY[name]
    w = _world(alice, receiver)
    before = alice.ok("changes.get_since", {}, version="2.99")["cursor"]
    reply = _call(alice, name, version, build, w)
    assert reply.status_code == 400, reply.text[:400]
    assert _entries_after(alice, before) == []


def test_a_webhooks_secret_never_reaches_its_entries(files_app, alice, receiver):
    w = _world(alice, receiver)
    before = alice.ok("changes.get_since", {}, version="2.99")["cursor"]
    _setup(alice, w, "webhook")
    alice.ok("webhooks.edit", {"webhook": w["webhook"], "secret": HOOK_SECRET + "-new"}, version="2.99")
    generated = alice.ok("webhooks.create", {"url": w["receiver"], "kinds": ["*"]}, version="2.99")["secret"]
    entries = [e for e in _entries_after(alice, before) if e["target"]["type"] == "webhook"]
    assert [e["kind"] for e in entries] == ["webhook.created", "webhook.edited", "webhook.created"]
    text = json.dumps(entries)
    assert HOOK_SECRET not in text and generated not in text
    assert entries[0]["changes"]["after"]["secret"] == "<secret>"
    assert entries[1]["changes"]["after"]["secret"] == "<secret>"


def test_a_large_add_many_batch_is_one_summary_entry(files_app, alice, receiver):
    """records.add_many stores its lines in inserts of up to services.records.ingest.BATCH records; an
    insert of more than change_log.summarise_over records is one entry naming the count and first ids."""
    w = _world(alice, receiver)
    before = alice.ok("changes.get_since", {}, version="2.99")["cursor"]
    over = files_app.modelreg_state.stores.config.get("change_log.summarise_over")
    body = "".join(json.dumps({"site": f"s{n}"}) + "\n" for n in range(over + 1))
    reply = alice.raw("/v2.99/records.add_many", body=body, headers=NDJSON, query_string=f"model={w['model']}")
    assert reply.status_code == 200, reply.text[:400]
    entries = _entries_after(alice, before)
    assert [(e["kind"], e["target"]["type"], e["target"]["id"]) for e in entries] == [("record.added", "record",
                                                                                         None)]
    after = entries[0]["changes"]["after"]
    assert after["count"] == over + 1 and len(after["ids"]) == over
