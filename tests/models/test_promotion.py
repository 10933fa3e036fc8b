"""Governed promotion (2.99): protected aliases, reviewed promotion requests, the alias history, and the
races (concurrent approvals, competing requests, stale requests)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import ApiClient, codes, make_user

X = "2.99"
NAME = "fraud-detector"
SIGNATURE = {"input": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}}


@pytest.fixture
def team(client):
    """The admin (`client`), a requester, two reviewers and a guest of the admin's company."""
    company = client.identity["company"]
    return {
        "admin": client,
        "requester": make_user(client.app, "rita", company, role="user"),
        "reviewer": make_user(client.app, "rev", company, role="user"),
        "second": make_user(client.app, "sam", company, role="user"),
        "guest": make_user(client.app, "gus", company, role="guest"),
    }


def _version(client, ready=True, name=NAME, **fields) -> str:
    return client.ok("models.create", {"name": name, "uri": "s3://b/m.pt", "ready": ready, **fields}, version=X)["id"]


def _protect(team, alias="production", approvals=1, **extra) -> dict:
    reviewers = {"users": [team["reviewer"].identity["user"], team["second"].identity["user"]]}
    return team["admin"].ok("models.protect_alias", {"name": NAME, "alias": alias, "reviewers": reviewers,
                                                     "required_approvals": approvals, **extra}, version=X)


def _request(team, model, alias="production") -> str:
    return team["requester"].ok("promotions.create", {"model": model, "alias": alias, "reason": "better AUC"},
                                version=X)["id"]


def _state(client, request_id) -> dict:
    return client.ok("promotions.get_by_id", {"id": request_id}, version=X)["promotion"]


def _alias(client, alias="production"):
    found = client.call("models.get_by_alias", {"name": NAME, "alias": alias}, version=X).json
    return found["data"]["model"]["id"] if found["meta"]["result_code"] == 200 else None


def test_a_request_approved_by_a_reviewer_moves_the_alias_and_is_recorded(team):
    v1, v2 = _version(team["requester"]), _version(team["requester"])
    team["admin"].ok("models.break_glass_alias", {"model": v1, "alias": "production", "reason": "first release"},
                     version=X)
    _protect(team)
    request = _request(team, v2)
    assert _state(team["guest"], request)["state"] == "open"
    reply = team["reviewer"].ok("promotions.review", {"id": request, "decision": "approve", "comment": "ok"},
                                version=X)
    assert reply["state"] == "approved"
    assert _alias(team["guest"]) == v2
    history = team["guest"].ok("models.get_alias_history", {"name": NAME, "alias": "production"}, version=X)["history"]
    assert [h["model"] for h in history] == [v2, v1]
    assert history[0]["promotion"] == request and history[0]["user"] == team["reviewer"].identity["user"]
    assert history[0]["requester"] == team["requester"].identity["user"]
    assert history[1]["break_glass"] == {"reason": "first release"}
    listed = team["guest"].ok("promotions.get_all", {"state": "approved", "alias": "production"}, version=X)
    assert [p["id"] for p in listed["promotions"]] == [request] and listed["total"] == 1
    rules = team["guest"].ok("models.get_versions", {"name": NAME}, version=X)["protected_aliases"]
    assert rules["production"]["reviewers"]["users"]


def test_direct_moves_of_a_protected_alias_are_refused_naming_the_request_endpoint(team):
    v1, v2 = _version(team["requester"]), _version(team["requester"])
    team["requester"].ok("models.set_alias", {"model": v1, "alias": "production"}, version=X)
    _protect(team)
    for endpoint, model in (("models.set_alias", v2), ("models.delete_alias", v1)):
        meta = team["admin"].error(endpoint, {"model": model, "alias": "production"}, version=X)
        assert codes(meta) == (400, 1301) and "promotions.create" in meta["result_msg"]
        assert "rule=" in meta["result_msg"]
    assert _alias(team["admin"]) == v1
    # other aliases of the model stay free
    team["requester"].ok("models.set_alias", {"model": v2, "alias": "staging"}, version=X)
    # renaming the version that holds the alias would take it away
    meta = team["requester"].error("models.edit", {"model": v1, "name": "renamed-model"}, version=X)
    assert codes(meta)[0] == 400 and _alias(team["admin"]) == v1


def test_reviewers_requesters_and_guests(team):
    _protect(team, approvals=2)
    request = _request(team, _version(team["requester"]))
    # the requester may not review, nor may a user who is not a reviewer, nor a guest
    assert codes(team["requester"].error("promotions.review", {"id": request, "decision": "approve"},
                                         version=X)) == (403, 1314)
    assert codes(team["admin"].error("promotions.review", {"id": request, "decision": "approve"},
                                     version=X)) == (403, 1314)
    assert codes(team["guest"].error("promotions.review", {"id": request, "decision": "approve"},
                                     version=X))[0] == 403
    one = team["reviewer"].ok("promotions.review", {"id": request, "decision": "approve"}, version=X)
    assert (one["state"], one["approvals"], one["required_approvals"]) == ("open", 1, 2)
    # the same reviewer twice counts once
    assert codes(team["reviewer"].error("promotions.review", {"id": request, "decision": "approve"},
                                        version=X)) == (400, 1313)
    # only the requester cancels
    assert codes(team["reviewer"].error("promotions.cancel", {"id": request}, version=X)) == (403, 1315)
    assert team["requester"].ok("promotions.cancel", {"id": request}, version=X)["state"] == "cancelled"
    assert codes(team["second"].error("promotions.review", {"id": request, "decision": "approve"},
                                      version=X)) == (400, 1312)
    assert _alias(team["admin"]) is None


def test_a_rejected_request_moves_nothing(team):
    _protect(team)
    request = _request(team, _version(team["requester"]))
    reply = team["second"].ok("promotions.review", {"id": request, "decision": "reject", "comment": "no"}, version=X)
    assert reply["state"] == "rejected"
    promotion = _state(team["admin"], request)
    assert promotion["rejection"]["user"] == team["second"].identity["user"]
    assert _alias(team["admin"]) is None


def test_preconditions_at_request(team):
    _protect(team, require_signature=True, sample_inputs=[{"amount": 3.5}])
    draft = _version(team["requester"], ready=False, signature=SIGNATURE)
    unsigned = _version(team["requester"])
    wrong = _version(team["requester"], signature={"input": {"type": "object", "required": ["card"]}})
    archived = _version(team["requester"], signature=SIGNATURE)
    team["requester"].ok("models.archive_many", {"ids": [archived]}, version="2.13")
    for model, words in ((draft, "not published"), (unsigned, "signature"), (wrong, "sample input 0"),
                         (archived, "archived")):
        meta = team["requester"].error("promotions.create", {"model": model, "alias": "production"}, version=X)
        assert codes(meta) == (400, 1313) and words in meta["result_msg"], meta
    good = _version(team["requester"], signature=SIGNATURE)
    assert _request(team, good)
    # an alias without a rule is not requested, it is set
    meta = team["requester"].error("promotions.create", {"model": good, "alias": "staging"}, version=X)
    assert "models.set_alias" in meta["result_msg"]


def test_a_request_goes_stale_when_the_alias_moved_meanwhile(team):
    v1, v2, v3 = (_version(team["requester"]) for _ in range(3))
    _protect(team)
    first, second = _request(team, v1), _request(team, v2)
    team["admin"].ok("models.break_glass_alias", {"model": v3, "alias": "production", "reason": "hotfix"}, version=X)
    reply = team["reviewer"].ok("promotions.review", {"id": first, "decision": "approve"}, version=X)
    assert reply["state"] == "stale" and "moved" in reply["state_reason"]
    assert _alias(team["admin"]) == v3
    # a stale request cannot be approved afterwards
    assert codes(team["second"].error("promotions.review", {"id": first, "decision": "approve"},
                                      version=X)) == (400, 1312)
    assert _state(team["admin"], second)["state"] == "open"


def test_preconditions_are_checked_again_at_apply(team):
    _protect(team)
    model = _version(team["requester"])
    request = _request(team, model)
    team["requester"].ok("models.archive_many", {"ids": [model]}, version="2.13")
    reply = team["reviewer"].ok("promotions.review", {"id": request, "decision": "approve"}, version=X)
    assert reply["state"] == "stale" and "archived" in reply["state_reason"]
    assert _alias(team["admin"]) is None


def test_two_requests_for_one_alias_cannot_both_apply(team):
    _protect(team)
    a, b = _version(team["requester"]), _version(team["requester"])
    first, second = _request(team, a), _request(team, b)

    def approve(request):
        caller = ApiClient(team["reviewer"].app, team["reviewer"].authorization)
        return caller.ok("promotions.review", {"id": request, "decision": "approve"}, version=X)["state"]

    with ThreadPoolExecutor(max_workers=2) as pool:
        states = sorted(pool.map(approve, [first, second]))
    assert states == ["approved", "stale"]
    winner = first if _state(team["admin"], first)["state"] == "approved" else second
    assert _alias(team["admin"]) == (a if winner == first else b)
    history = team["admin"].ok("models.get_alias_history", {"name": NAME, "alias": "production"}, version=X)
    assert [h["promotion"] for h in history["history"]] == [winner]


def test_fifty_concurrent_approvals_move_the_alias_once(team):
    company = team["admin"].identity["company"]
    reviewers = [make_user(team["admin"].app, f"r{i}", company, role="superuser") for i in range(50)]
    team["admin"].ok("models.protect_alias", {"name": NAME, "alias": "production",
                                              "reviewers": {"roles": ["superuser"]}, "required_approvals": 3},
                     version=X)
    model = _version(team["requester"])
    request = _request(team, model)

    def approve(reviewer):
        caller = ApiClient(reviewer.app, reviewer.authorization)
        reply = caller.call("promotions.review", {"id": request, "decision": "approve"}, version=X)
        return reply.status_code, reply.json["data"].get("state")

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(approve, reviewers))
    assert all(status in (200, 400) for status, _ in replies), replies
    # one approval claims and applies it; a reply after that shows the state it ended in
    assert any(status == 200 and state == "approved" for status, state in replies), replies
    history = team["admin"].ok("models.get_alias_history", {"name": NAME, "alias": "production"}, version=X)
    assert [h["promotion"] for h in history["history"]] == [request]
    promotion = _state(team["admin"], request)
    assert promotion["state"] == "approved" and len(promotion["approvals"]) >= 3


def test_a_project_wide_rule_covers_every_registered_model_of_the_project(team):
    project = team["admin"].ok("projects.create", {"name": "governed", "description": "d"}, version="2.13")["id"]
    team["admin"].ok("models.protect_alias", {"project": project, "name": "*", "alias": "production",
                                              "reviewers": {"roles": ["admin"]}}, version=X)
    model = _version(team["requester"], name="any-model", project=project)
    meta = team["requester"].error("models.set_alias", {"model": model, "alias": "production"}, version=X)
    assert codes(meta) == (400, 1301)
    request = team["requester"].ok("promotions.create", {"model": model, "alias": "production"}, version=X)["id"]
    reply = team["admin"].ok("promotions.review", {"id": request, "decision": "approve"}, version=X)
    assert reply["state"] == "approved"


def test_only_admins_protect_and_unprotect(team):
    body = {"name": NAME, "alias": "production", "reviewers": {"roles": ["admin"]}}
    assert codes(team["requester"].error("models.protect_alias", body, version=X))[0] == 403
    assert team["admin"].ok("models.protect_alias", body, version=X)["created"] is True
    assert team["admin"].ok("models.protect_alias", body, version=X)["created"] is False
    unprotect = {"name": NAME, "alias": "production"}
    assert codes(team["requester"].error("models.unprotect_alias", unprotect, version=X))[0] == 403
    assert team["admin"].ok("models.unprotect_alias", unprotect, version=X)["deleted"] is True
    model = _version(team["requester"])
    team["requester"].ok("models.set_alias", {"model": model, "alias": "production"}, version=X)


def test_bad_rules_are_refused_naming_the_field(team):
    base = {"name": NAME, "alias": "production"}
    for reviewers, field in (({}, "reviewers"), ({"users": ["nobody-here"]}, "reviewers.users"),
                             ({"roles": ["guest"]}, "roles")):
        meta = team["admin"].error("models.protect_alias", {**base, "reviewers": reviewers}, version=X)
        assert meta["result_code"] == 400 and field in meta["result_msg"], meta
    meta = team["admin"].error("models.break_glass_alias", {"model": _version(team["admin"]), "alias": "production",
                                                            "reason": "  "}, version=X)
    assert meta["result_code"] == 400 and "reason" in meta["result_msg"]


def test_another_company_sees_no_request_or_rule(team, other_client):
    _protect(team)
    request = _request(team, _version(team["requester"]))
    assert codes(other_client.error("promotions.get_by_id", {"id": request}, version=X)) == (400, 1311)
    assert codes(other_client.error("promotions.review", {"id": request, "decision": "approve"},
                                    version=X)) == (400, 1311)
    assert other_client.ok("promotions.get_all", {}, version=X)["total"] == 0
    assert other_client.ok("models.get_alias_rules", {"name": NAME}, version=X)["rules"] == []


def test_a_request_left_applying_by_a_stopped_process_is_settled(team):
    """The process that claimed a request died before moving the alias: the request is not stuck."""
    _protect(team)
    request = _request(team, _version(team["requester"]))
    db = team["admin"].app.modelreg_state.stores.db
    stopped_at = datetime.now(timezone.utc) - timedelta(minutes=5)
    db["promotions"].update_one({"_id": request}, {"$set": {"state": "applying", "applying_since": stopped_at}})
    promotion = _state(team["guest"], request)
    assert promotion["state"] == "stale" and "interrupted" in promotion["state_reason"]
    assert _alias(team["admin"]) is None
