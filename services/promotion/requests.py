"""promotions.* (2.99): requests to move a protected alias to a version, and their reviews.

A request names a version (`model`) and an alias of its registered model. Reviewers the alias's rule
allows, other than the requester, approve or reject it; when approvals reach the rule's count the
alias moves (services/promotion/apply.py). Everything is the caller's company's: another company's
request is "no such request".
"""

from __future__ import annotations

from database import clock, ids
from database.collections.promotions_db import APPLYING, CANCELLED, OPEN, REJECTED
from services import errors
from services.call import Call
from services.handlers import handles
from services.promotion import apply, rules
from services.shared import lookups, user_schemas


def _request(call: Call) -> dict:
    request_id = call.data["id"]
    doc = call.scope.promotions.get(request_id)
    if doc is None:
        raise errors.InvalidPromotionId(id=request_id)
    return apply.settle(call.scope, doc)


def render(doc: dict) -> dict:
    """A request as the API shows it; `applying` (the instant of the move) shows as `open`."""
    state = doc.get("state")
    return {
        "id": doc["_id"], "state": OPEN if state == APPLYING else state, "state_reason": doc.get("state_reason"),
        "model": doc["model"], "version": doc.get("version"), "project": doc.get("project"), "name": doc["name"],
        "alias": doc["alias"], "from_model": doc.get("from_model"), "reason": doc.get("reason") or "",
        "requester": doc["requester"], "required_approvals": int(doc.get("required_approvals") or 1),
        "approvals": [{"user": a["user"], "time": a["time"], "comment": a.get("comment")}
                      for a in doc.get("approvals") or []],
        "rejection": doc.get("rejection"), "created": doc["created"], "last_update": doc.get("last_update"),
        "applied": doc.get("applied"),
    }


@handles("promotions.create")
def create(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    alias = call.data["alias"]
    rule, current = apply.check_request(call.scope, model, alias, user_schemas.limits_from(call.config))
    project, name = rules.registry_key(model)
    now = clock.now()
    doc = call.scope.promotions.insert({
        "_id": ids.new_id(), "model": model["_id"], "version": model.get("version"), "project": project,
        "name": name, "alias": alias, "from_model": current, "reason": str(call.data.get("reason") or ""),
        "requester": call.identity.user, "state": OPEN, "approvals": [],
        "required_approvals": int(rule.get("required_approvals") or 1), "created": now, "last_update": now,
    })
    return {"id": doc["_id"], "state": OPEN}


def _reviewable(call: Call, doc: dict) -> dict:
    """The rule under which the caller may review the open request."""
    if doc.get("state") not in (OPEN,):
        raise errors.PromotionNotOpen(id=doc["_id"], state=render(doc)["state"])
    rule = rules.rule_for(call.scope, doc.get("project"), doc["name"], doc["alias"])
    if rule is None:
        return {}
    if doc["requester"] == call.identity.user:
        raise errors.NotAReviewer("the requester cannot review their own request", id=doc["_id"], rule=rule["_id"])
    if not rules.may_review(rule, call.identity.user, call.identity.role):
        raise errors.NotAReviewer(id=doc["_id"], rule=rule["_id"], alias=doc["alias"])
    return rule


def _reply(doc: dict) -> dict:
    shown = render(doc)
    return {"id": shown["id"], "state": shown["state"], "state_reason": shown["state_reason"],
            "approvals": len(shown["approvals"]), "required_approvals": shown["required_approvals"]}


@handles("promotions.review")
def review(call: Call) -> dict:
    doc = _request(call)
    rule = _reviewable(call, doc)
    limits = user_schemas.limits_from(call.config)
    if not rule:  # unprotected meanwhile: nothing to review any more
        return _reply(apply.apply(call.scope, doc["_id"], call.identity.user, limits))
    moved = apply.go_stale_if_moved(call.scope, doc)
    if moved is not None:
        return _reply(moved)
    comment = call.data.get("comment")
    if call.data["decision"] == "reject":
        rejection = {"user": call.identity.user, "time": clock.now(), "comment": comment}
        done = call.scope.promotions.transition(doc["_id"], (OPEN,), REJECTED, {"rejection": rejection})
        if done is None:
            raise errors.PromotionNotOpen(id=doc["_id"])
        return _reply(done)
    approved = call.scope.promotions.approve(doc["_id"], call.identity.user, comment)
    if approved is None:
        now = call.scope.promotions.get(doc["_id"]) or doc
        if now.get("state") == OPEN:
            raise errors.PromotionRefused("you already approved this request", id=doc["_id"])
        raise errors.PromotionNotOpen(id=doc["_id"], state=render(now)["state"])
    required = int(rule.get("required_approvals") or 1)  # the rule as it is now
    if len(approved.get("approvals") or []) < required:
        return _reply({**approved, "required_approvals": required})
    return _reply(apply.apply(call.scope, doc["_id"], call.identity.user, limits))


@handles("promotions.cancel")
def cancel(call: Call) -> dict:
    doc = _request(call)
    if doc["requester"] != call.identity.user:
        raise errors.NotTheRequester(id=doc["_id"])
    done = call.scope.promotions.transition(doc["_id"], (OPEN,), CANCELLED)
    if done is None:
        now = call.scope.promotions.get(doc["_id"]) or doc
        raise errors.PromotionNotOpen(id=doc["_id"], state=render(now)["state"])
    return _reply(done)


@handles("promotions.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"promotion": render(_request(call))}


@handles("promotions.get_all")
def get_all(call: Call) -> dict:
    filters = dict(call.data)
    states = filters.get("state")
    states = [states] if isinstance(states, str) else states
    if states and OPEN in states:  # a request being applied is still shown as open
        filters["state"] = [*states, APPLYING]
    docs, total = call.scope.promotions.page(filters, call.data, default_size=50)
    return {"promotions": [render(d) for d in docs], "total": total}
