"""Promotion requests: their preconditions, and moving the alias when approvals reach the rule's count.

The move happens once however many approvals race: the approval that reaches the count claims the
request (`open` -> `applying`, one conditional update that only one caller wins), checks the
preconditions again, and moves the alias only while it still names what it named when the request was
made (one conditional update that also writes the history entry). Two requests for the same alias
cannot both apply over each other: the second finds the alias moved and goes `stale`.
"""

from __future__ import annotations

from datetime import timedelta

from database import clock
from database.collections import models_db
from database.collections.promotions_db import APPLYING, APPROVED, OPEN, STALE
from database.collections.scope import Scope
from services import errors
from services.models import card as model_card
from services.models import versioning
from services.promotion import rules
from services.shared import user_schemas

# an `applying` request older than this was interrupted (its process stopped between claim and move)
APPLY_GRACE = timedelta(seconds=30)


def precondition_failure(scope: Scope, model: dict | None, rule: dict | None, limits: user_schemas.Limits
                         ) -> str | None:
    """Why the version cannot take the protected alias now, or None when it can."""
    if rule is None:
        return "the alias is no longer protected (use models.set_alias)"
    if model is None:
        return "the version is gone or not the company's"
    if not model.get("ready"):
        return "the version is not published (models.set_ready first)"
    if models_db.ARCHIVED in (model.get("system_tags") or []):
        return "the version is archived"
    signature = model.get("signature") or {}
    if rule.get("require_signature") and not signature.get("input"):
        return f"rule {rule['_id']} requires a signature with an input schema"
    samples = rule.get("sample_inputs") or []
    if samples and not signature.get("input"):
        return f"rule {rule['_id']} has sample inputs and the version declares no input signature"
    for index, sample in enumerate(samples):
        if not model_card.validate_payload(model, sample, limits)["valid"]:
            return f"sample input {index} of rule {rule['_id']} fails validate_input"
    return None


def check_request(scope: Scope, model: dict, alias: str, limits: user_schemas.Limits) -> tuple[dict, str | None]:
    """The rule and the model the alias names now, for a new request; refuses one that could not apply."""
    project, name = rules.registry_key(model)
    rule = rules.rule_for(scope, project, name, alias)
    if rule is None:
        raise errors.PromotionRefused("the alias is not protected: use models.set_alias", alias=alias,
                                      name=name, project=project)
    failure = precondition_failure(scope, model, rule, limits)
    if failure:
        raise errors.PromotionRefused(failure, model=model["_id"], alias=alias, rule=rule["_id"])
    current = ((scope.registered_models.by_key(project, name) or {}).get("aliases") or {}).get(alias)
    if current == model["_id"]:
        raise errors.PromotionRefused("the alias already names this version", model=model["_id"], alias=alias)
    return rule, current


def _alias_now(scope: Scope, request: dict) -> str | None:
    registered = scope.registered_models.by_key(request.get("project"), request["name"]) or {}
    return (registered.get("aliases") or {}).get(request["alias"])


def _applied(scope: Scope, request: dict) -> bool:
    """Whether the alias history holds the move this request made."""
    history = versioning.alias_history(scope, request.get("project"), request["name"], limit=10**6,
                                       alias=request["alias"])
    return any(entry.get("promotion") == request["_id"] for entry in history)


def settle(scope: Scope, request: dict) -> dict:
    """Finishes a request left `applying` by a process that stopped: approved if its move is in the
    history, else stale. Other requests are returned as they are."""
    since = request.get("applying_since")
    if request.get("state") != APPLYING or since is None or clock.now() - since < APPLY_GRACE:
        return request
    if _applied(scope, request):
        return scope.promotions.transition(request["_id"], (APPLYING,), APPROVED, {"applied": since}) or request
    return scope.promotions.transition(request["_id"], (APPLYING,), STALE,
                                       {"state_reason": "interrupted while applying"}) or request


def go_stale_if_moved(scope: Scope, request: dict) -> dict | None:
    """An open request whose alias moved since it was made goes stale (returned); else None."""
    if _alias_now(scope, request) == request.get("from_model"):
        return None
    return scope.promotions.transition(request["_id"], (OPEN,), STALE, {
        "state_reason": "the alias moved since the request was made"}) or scope.promotions.get(request["_id"])


def apply(scope: Scope, request_id: str, user: str, limits: user_schemas.Limits) -> dict:
    """Moves the alias for an approved request, once. Returns the request as it ends up."""
    claimed = scope.promotions.transition(request_id, (OPEN,), APPLYING, {"applying_since": clock.now()})
    if claimed is None:  # another approval claimed it, or it was cancelled meanwhile
        return scope.promotions.get(request_id) or {}
    project, name, alias = claimed.get("project"), claimed["name"], claimed["alias"]
    rule = rules.rule_for(scope, project, name, alias)
    model = scope.models.get_writable(claimed["model"])
    failure = precondition_failure(scope, model, rule, limits)
    if failure:
        return scope.promotions.transition(request_id, (APPLYING,), STALE, {"state_reason": failure}) or claimed
    previous = claimed.get("from_model")
    previous_doc = scope.models.get(previous, {"version": 1}) if previous else None
    entry = {"alias": alias, "model": model["_id"], "version": model.get("version"), "previous": previous,
             "previous_version": (previous_doc or {}).get("version"), "user": user, "promotion": request_id,
             "requester": claimed.get("requester"), "approved_by": [a["user"] for a in claimed.get("approvals") or []]}
    scope.registered_models.ensure(project, name)
    registered = scope.registered_models.move_alias_if(project, name, alias, previous, model["_id"], entry)
    if registered is None:
        return scope.promotions.transition(request_id, (APPLYING,), STALE, {
            "state_reason": "the alias moved since the request was made"}) or claimed
    scope.alias_rules.pin(rule["_id"], [model["_id"]])
    versioning.sync_copies(scope, registered, [model["_id"], previous])
    return scope.promotions.transition(request_id, (APPLYING,), APPROVED, {"applied": clock.now()}) or claimed
