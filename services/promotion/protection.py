"""models.* extensions of governed promotion (2.99): protecting aliases of registered models, the admin's
break-glass move, and the alias history.

A registered model is `(project, name)` of the caller's company, as in services/models/versions.py;
`name: "*"` makes a rule for every registered model of the project.
"""

from __future__ import annotations

from database.collections.alias_rules_db import EVERY_MODEL
from services import errors
from services.call import Call
from services.handlers import handles
from services.identity import roles
from services.models import versioning
from services.promotion import rules
from services.shared import lookups

REVIEWER_ROLES = tuple(r for r in roles.ROLES if r not in roles.READ_ONLY_ROLES)


def _key(call: Call, *, writable: bool = False) -> tuple[str | None, str]:
    project = call.data.get("project") or None
    if project:
        (lookups.writable_project if writable else lookups.readable_project)(call.scope, project)
    name = str(call.data["name"]).strip()
    if not name:
        raise errors.ValidationError("name must not be blank", field="name")
    return project, name


def _reviewers(call: Call) -> dict:
    given = call.data.get("reviewers") or {}
    role_list = sorted(set(given.get("roles") or []))
    users = sorted(set(given.get("users") or []))
    wrong = [r for r in role_list if r not in REVIEWER_ROLES]
    if wrong:
        raise errors.FieldsValueError("reviewer roles must be writing roles", field="reviewers.roles", roles=wrong)
    unknown = sorted(set(users) - {u["id"] for u in call.scope.users.names(users)})
    if unknown:
        raise errors.FieldsValueError("reviewers must be users of the company", field="reviewers.users", users=unknown)
    if not role_list and not users:
        raise errors.FieldsValueError("name at least one reviewer role or user", field="reviewers")
    return {"roles": role_list, "users": users}


def _pin_current(call: Call, rule: dict) -> None:
    """The versions the alias names, or named before it was protected, are kept from now on."""
    if rule["name"] == EVERY_MODEL:
        registered = call.scope.registered_models.find({"project": rule.get("project")}, own_only=True)
    else:
        registered = [call.scope.registered_models.by_key(rule.get("project"), rule["name"]) or {}]
    named = []
    for doc in registered:
        named.append((doc.get("aliases") or {}).get(rule["alias"]))
        named.extend(e.get("model") for e in doc.get("alias_history") or [] if e.get("alias") == rule["alias"])
    call.scope.alias_rules.pin(rule["_id"], sorted({m for m in named if m}))


@handles("models.protect_alias")
def protect_alias(call: Call) -> dict:
    project, name = _key(call, writable=True)
    fields = {
        "reviewers": _reviewers(call),
        "required_approvals": int(call.data.get("required_approvals") or 1),
        "require_signature": bool(call.data.get("require_signature", False)),
        "sample_inputs": list(call.data.get("sample_inputs") or []),
        "immutable": bool(call.data.get("immutable", True)),
    }
    rule, created = call.scope.alias_rules.put(project, name, call.data["alias"], fields, call.identity.user)
    _pin_current(call, rule)
    return {"id": rule["_id"], "created": created, "rule": rules.render(rule)}


@handles("models.unprotect_alias")
def unprotect_alias(call: Call) -> dict:
    project, name = _key(call)
    return {"deleted": call.scope.alias_rules.remove(project, name, call.data["alias"])}


@handles("models.get_alias_rules")
def get_alias_rules(call: Call) -> dict:
    project = call.data.get("project") or None
    if project:
        lookups.readable_project(call.scope, project)
    name = str(call.data.get("name") or "").strip()
    found = rules.governing(call.scope, project, name) if name else call.scope.alias_rules.of_project(project)
    return {"rules": [rules.render(r) for r in found]}


@handles("models.break_glass_alias")
def break_glass_alias(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    reason = str(call.data["reason"]).strip()
    if not reason:
        raise errors.ValidationError("a break-glass move needs a reason", field="reason")
    return versioning.break_glass(call.scope, model, call.data["alias"], call.identity.user, reason)


@handles("models.get_alias_history")
def get_alias_history(call: Call) -> dict:
    project, name = _key(call)
    limit = int(call.data.get("limit") or 100)
    return {"history": versioning.alias_history(call.scope, project, name, limit=limit, alias=call.data["alias"])}
