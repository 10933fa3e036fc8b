"""The role matrix of governed promotion, generated from the schema registry: every endpoint served by
services/promotion/ is called by each actor (admin, requester, allowed reviewer, a user who is not a
reviewer, a guest, another company's admin) with a body built from its request schema. Each cell says
whether the call is served; a refused call changes nothing of the company's."""

from __future__ import annotations

import copy

import pytest

from services.handlers import all_handlers
from tests.helpers import make_user, new_company

X = "2.99"
NAME = "matrix-model"
ACTORS = ("admin", "requester", "reviewer", "bystander", "guest", "outsider")
OK, NO = 200, "refused"
# what each actor gets from each endpoint (the outsider's 200s are reads of its own, empty, company)
MATRIX = {
    "models.protect_alias": {"admin": OK, "requester": NO, "reviewer": NO, "bystander": NO, "guest": NO,
                             "outsider": OK},
    "models.unprotect_alias": {"admin": OK, "requester": NO, "reviewer": NO, "bystander": NO, "guest": NO,
                               "outsider": OK},
    "models.get_alias_rules": dict.fromkeys(ACTORS, OK),
    "models.get_alias_history": dict.fromkeys(ACTORS, OK),
    "models.break_glass_alias": {"admin": OK, "requester": NO, "reviewer": NO, "bystander": NO, "guest": NO,
                                 "outsider": NO},
    "promotions.create": {"admin": OK, "requester": OK, "reviewer": OK, "bystander": OK, "guest": NO,
                          "outsider": NO},
    "promotions.review": {"admin": NO, "requester": NO, "reviewer": OK, "bystander": NO, "guest": NO,
                          "outsider": NO},
    "promotions.cancel": {"admin": NO, "requester": OK, "reviewer": NO, "bystander": NO, "guest": NO,
                          "outsider": NO},
    "promotions.get_by_id": {**dict.fromkeys(ACTORS, OK), "outsider": NO},
    "promotions.get_all": dict.fromkeys(ACTORS, OK),
}
COLLECTIONS = ("alias_rules", "promotions", "registered_models", "models")


def _promotion_endpoints() -> set[str]:
    return {name for name, func in all_handlers().items() if func.__module__.startswith("services.promotion.")}


def test_the_matrix_covers_every_promotion_endpoint():
    assert set(MATRIX) == _promotion_endpoints()


@pytest.fixture
def world(client):
    """A protected alias naming v1, an open request for v2 by the requester, and the actors."""
    company = client.identity["company"]
    actors = {
        "admin": client,
        "requester": make_user(client.app, "req", company, role="user"),
        "reviewer": make_user(client.app, "rev", company, role="user"),
        "bystander": make_user(client.app, "bys", company, role="user"),
        "guest": make_user(client.app, "gst", company, role="guest"),
        "outsider": make_user(client.app, "out", new_company("o"), role="admin"),
    }
    v1, v2, v3 = (client.ok("models.create", {"name": NAME, "uri": "s3://b/x", "ready": True}, version=X)["id"]
                  for _ in range(3))
    client.ok("models.set_alias", {"model": v1, "alias": "production"}, version=X)
    client.ok("models.protect_alias", {"name": NAME, "alias": "production",
                                       "reviewers": {"users": [actors["reviewer"].identity["user"]]}}, version=X)
    request = actors["requester"].ok("promotions.create", {"model": v2, "alias": "production"}, version=X)["id"]
    return {"actors": actors, "company": company, "ids": {"model": v3, "id": request}}


VALUES = {"alias": "production", "name": NAME, "reviewers": {"roles": ["admin"]}, "decision": "approve",
          "reason": "matrix", "comment": "matrix"}


def _body(endpoint, ids: dict) -> dict:
    schema = endpoint.request_schema
    body = {}
    for field in list(schema.get("required") or []) + list(schema.get("properties") or {}):
        if field in ids:
            body[field] = ids[field]
        elif field in VALUES:
            body[field] = VALUES[field]
    return body


def _snapshot(db, company: str) -> dict:
    return {name: copy.deepcopy(list(db[name].find({"company": company}).sort("_id", 1))) for name in COLLECTIONS}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_role_matrix(world, name, actor):
    caller = world["actors"][actor]
    endpoint = caller.registry.endpoints[name][-1]
    body = _body(endpoint, world["ids"])
    db = caller.app.modelreg_state.stores.db
    before = _snapshot(db, world["company"])
    reply = caller.call(name, body, version=X)
    if MATRIX[name][actor] == OK:
        assert reply.status_code == 200, (name, actor, body, reply.json["meta"])
        problems = list(endpoint.response_validator.iter_errors(reply.json["data"]))
        assert not problems, (name, problems[0].message)
    else:
        assert 400 <= reply.status_code < 500, (name, actor, body, reply.text[:300])
    if MATRIX[name][actor] != OK or actor == "outsider":
        assert _snapshot(db, world["company"]) == before, (name, actor)
    if actor == "outsider":  # nothing of the company's reaches another company (errors echo what it sent)
        data = str(reply.json["data"])
        assert world["ids"]["model"] not in data and world["ids"]["id"] not in data
