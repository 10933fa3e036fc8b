"""Tenant isolation, generated from the schema registry: company B calls EVERY endpoint with company A's
private ids in every id-shaped field, and afterwards nothing of A's was read, changed, referenced or
deleted. New endpoints join the matrix by themselves (their id fields are recognised by name).
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from tests.files_support import visible_objects
from tests.helpers import ApiClient
from tests.webhook_support import seed_webhook

SECRET = "TOPSECRET-" + uuid.uuid4().hex[:8]  # planted in A's documents; must never reach B
# Request fields that name one document, by what they name.
SINGLE_ID_FIELDS = {
    "model": "model", "task": "task", "project": "project", "parent": "model", "dataset": "dataset",
    "record": "record", "new_task_project": "project", "new_task_parent": "task", "user": "user",
    "override_model_id": "model", "access_key": "access_key", "company": "company", "webhook": "webhook",
    "delivery": "delivery", "upload": "upload",
}
# Request fields that name several documents.
LIST_ID_FIELDS = {"ids", "id", "projects", "tasks", "models", "datasets", "records", "users", "parent"}


def _dummy(schema: dict):
    """A small value of the schema's type, for required fields that are not ids."""
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "x-" + SECRET[:3], "integer": 1, "number": 1, "boolean": False, "array": [],
            "object": {}}.get(kind, "x")


def _body(endpoint, ids: dict) -> dict:
    """A request naming A's ids wherever the schema has an id-shaped field, plus dummy required fields."""
    schema = endpoint.request_schema
    properties = schema.get("properties") or {}
    body = {}
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kinds = prop.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        is_list = "array" in kinds or ("$ref" in prop and "list_filter" in prop["$ref"])
        if name in LIST_ID_FIELDS and is_list:
            body[name] = ids["all"]
        elif name in SINGLE_ID_FIELDS and ("string" in kinds or "$ref" in prop or kinds == [None]):
            body[name] = ids.get(SINGLE_ID_FIELDS[name]) or ids["model"]
    for name in schema.get("required") or []:
        if name not in body:
            body[name] = _dummy(properties.get(name) or {})
    if "models" in properties and isinstance(properties["models"], dict) and "input" in str(properties["models"]):
        body["models"] = {"input": [{"name": "in", "model": ids["model"]}], "output": [{"name": "out",
                                                                                      "model": ids["model"]}]}
    return body


def _snapshot(db, company: str) -> dict:
    out = {}
    for name in sorted(db.list_collection_names()):
        if name in ("scroll_states", "login_failures", "throttle", "revocations"):
            continue
        docs = list(db[name].find({"$or": [{"company": company}, {"company_origin": company}]}).sort("_id", 1))
        if docs:  # a collection another company's calls created holds nothing of this one
            out[name] = copy.deepcopy(docs)
    return out


def _mentions(value, needles: set[str]) -> bool:
    text = json.dumps(value, default=str)
    return any(n in text for n in needles)


@pytest.fixture
def company_a(alice: ApiClient):
    """Company A's private world: a project, a model with a stored file, tasks using and producing it."""
    project = alice.ok("projects.create", {"name": f"secret-project-{SECRET}"}, version="2.13")["id"]
    model = alice.ok("models.create", {"name": f"model-{SECRET}", "uri": "s3://b/secret.pt", "project": project,
                                       "comment": SECRET, "tags": [SECRET]}, version="2.13")["id"]
    upload = alice.raw("/v2.13/models.upload", body=b"secret weights " + SECRET.encode(),
                       query_string=f"model={model}&filename=w.bin")
    assert upload.status_code == 200, upload.text
    task = alice.ok("tasks.create", {"name": f"task-{SECRET}", "type": "training", "project": project,
                                     "comment": SECRET}, version="2.13")["id"]
    alice.ok("tasks.add_or_update_model", {"task": task, "name": "in", "model": model, "type": "input"},
             version="2.13")
    webhook, delivery = seed_webhook(alice.app.modelreg_state.stores.db, alice.identity["company"], SECRET)
    upload = alice.ok("uploads.start", {"size": 5 * 1024 * 1024 + 1}, version="2.99")["upload"]
    return {"model": model, "task": task, "project": project, "user": alice.identity["user"],
            "webhook": webhook, "delivery": delivery, "upload": upload,
            "access_key": alice.identity["key"], "company": alice.identity["company"],
            "all": [model, task, project, webhook]}


def test_company_b_reaches_nothing_of_company_a_through_any_endpoint(files_app, alice, bob, company_a, s3, bucket):
    db = files_app.modelreg_state.stores.db
    registry = bob.registry
    company = alice.identity["company"]
    before = _snapshot(db, company)
    objects_before = visible_objects(s3, bucket)
    a_ids = {company_a["model"], company_a["task"], company_a["project"]}
    called, leaks = [], []
    for name, versions in sorted(registry.endpoints.items()):
        endpoint = versions[-1]
        body = _body(endpoint, company_a)
        path = f"/v{endpoint.version_text}/{name}"
        if endpoint.raw_body:
            reply = bob.raw(path, body=b"overwrite", method="PUT" if name == "uploads.put_part" else "POST",
                            query_string=f"model={company_a['model']}&upload={company_a['upload']}&part=1")
        elif endpoint.batch:
            line = json.dumps({**body, "task": company_a["task"], "model": company_a["model"], "type": "log",
                               "msg": "x"})
            reply = bob.raw(path, body=line, headers={"Content-Type": "application/json-lines"})
        else:
            reply = bob.raw(path, body=body)
        called.append(name)
        assert reply.status_code < 500, (name, body, reply.text[:500])
        if reply.status_code == 200 and SECRET in reply.text:
            leaks.append((name, body, reply.text[:300]))
    assert not leaks, f"company A's data reached company B: {leaks}"
    assert len(called) == len(registry.endpoints)
    # nothing of A's changed or went away, and no stored file of A's was touched
    assert _snapshot(db, company) == before
    assert visible_objects(s3, bucket) == objects_before
    # B holds no reference to anything of A's
    b_docs = _snapshot(db, bob.identity["company"])
    assert not _mentions(b_docs, a_ids), [n for n, docs in b_docs.items() if _mentions(docs, a_ids)]
    # the /files protocol: B's paths are B's, whatever they name
    model_doc = db["models"].find_one({"_id": company_a["model"]})
    path = model_doc["uri"].split("/files/", 1)[1]
    for method in ("GET", "HEAD", "DELETE"):
        reply = bob.raw(f"/files/{path}", method=method)
        assert reply.status_code in (200, 403, 404) and SECRET.encode() not in reply.content
    assert visible_objects(s3, bucket) == objects_before
    assert alice.raw("/v2.13/models.download", body={"model": company_a["model"]}).content.endswith(SECRET.encode())
