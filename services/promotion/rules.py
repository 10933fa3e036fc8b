"""Alias protection rules as the rest of the code meets them: which rule governs an alias, whether a
published version may still change, whether a version may be deleted, and who may review.

A rule covers one alias of one registered model `(project, name)`, or of every registered model of a
project (`name: "*"`). A registered model under any rule with `immutable` (the default) has immutable
published versions. Models under no rule keep ClearML's behaviour: every check here is then a no-op
costing one indexed read.
"""

from __future__ import annotations

import re

from database.collections.alias_rules_db import EVERY_MODEL
from database.collections.scope import Scope
from services import errors
from services.identity import roles

REQUEST_ENDPOINT = "promotions.create"
# What a published version under an immutable rule keeps: its file, design, labels, signature and number
# (the registered model it belongs to, so its name and project, decide the number).
FROZEN_FIELDS = ("uri", "file", "design", "labels", "signature", "version", "name", "project")


def registry_key(model: dict) -> tuple[str | None, str]:
    return model.get("project") or None, (model.get("name") or "").strip()


def governing(scope: Scope, project: str | None, name: str) -> list[dict]:
    return scope.alias_rules.governing(project, name)


def rule_for(scope: Scope, project: str | None, name: str, alias: str) -> dict | None:
    """The rule of the alias: the registered model's own before its project's `*` rule."""
    found = {r["name"]: r for r in governing(scope, project, name) if r.get("alias") == alias}
    return found.get(name) or found.get(EVERY_MODEL)


def protected_aliases(scope: Scope, project: str | None, name: str) -> dict[str, dict]:
    """{alias: its rule} of the registered model."""
    out: dict[str, dict] = {}
    for rule in governing(scope, project, name):
        if rule["name"] != EVERY_MODEL or rule["alias"] not in out:
            out[rule["alias"]] = rule
    return out


def describe(rule: dict) -> dict:
    """How a refusal names the rule."""
    return {"rule": rule["_id"], "alias": rule["alias"], "name": rule["name"], "project": rule.get("project")}


# --- direct alias changes --------------------------------------------------------------------------


def refuse_direct_move(scope: Scope, model: dict, alias: str) -> None:
    """set_alias / delete_alias on a protected alias is refused, naming the request endpoint."""
    rule = rule_for(scope, *registry_key(model), alias)
    if rule is not None:
        raise errors.AliasProtected(f"move it through {REQUEST_ENDPOINT}, or an admin's models.break_glass_alias",
                                    **describe(rule))


def refuse_leaving(scope: Scope, model: dict, held: list[str]) -> None:
    """A version that holds a protected alias may not leave its registered model (rename, move)."""
    rules = protected_aliases(scope, *registry_key(model))
    for alias in held:
        if alias in rules:
            raise errors.AliasProtected(f"the version holds it; move the alias through {REQUEST_ENDPOINT} first",
                                        model=model["_id"], **describe(rules[alias]))


# --- immutable published versions ------------------------------------------------------------------


def freezing_rule(scope: Scope, model: dict) -> dict | None:
    """The immutable rule that freezes this model, when it is published and under one."""
    if not model.get("ready"):
        return None
    for rule in governing(scope, *registry_key(model)):
        if rule.get("immutable", True):
            return rule
    return None


def _comparable(field: str, value):
    if field == "name":
        return str(value or "").strip()
    if field in ("project", "uri"):
        return (value or None) if not isinstance(value, str) else (value.strip() or None)
    if field in ("design", "labels"):
        return value or {}
    return value


def refuse_change(scope: Scope, model: dict, fields: dict) -> None:
    """Refuses writing a frozen field of a published version under an immutable rule. A field sent with
    its current value is no change (the SDK resends what it read)."""
    changed = sorted(k for k in fields
                     if k in FROZEN_FIELDS and _comparable(k, fields[k]) != _comparable(k, model.get(k)))
    if "ready" in fields and fields["ready"] is False and model.get("ready"):
        changed.append("ready")
    if not changed:
        return
    rule = freezing_rule(scope, model)
    if rule is not None:
        raise errors.VersionImmutable("description, tags and metadata stay editable", model=model["_id"],
                                      fields=changed, **describe(rule))


def refuse_file_change(scope: Scope, model: dict) -> None:
    """Uploads, imports and file deletion of a frozen version are refused."""
    rule = freezing_rule(scope, model)
    if rule is not None:
        raise errors.VersionImmutable("its file cannot change", model=model["_id"], fields=["file"],
                                      **describe(rule))


def refuse_object_change(scope: Scope, key: str, url_path: str) -> None:
    """Refuses writing or deleting the stored object of a frozen version: one it uploaded (`file.key`),
    or the `/files` URL its uri names (what the ClearML SDK uploads). Costs one read when the company has
    no immutable rule."""
    if scope.alias_rules.find_one({"immutable": {"$ne": False}}, {"_id": 1}, own_only=True) is None:
        return
    # the pattern is our own: the escaped literal path, anchored at the end of the uri
    named = {"$or": [{"file.key": key}, {"uri": {"$regex": re.escape(url_path) + "$"}}]}
    for model in scope.models.find(named, {"_id": 1, "ready": 1, "project": 1, "name": 1}, own_only=True):
        refuse_file_change(scope, model)


def refuse_delete(scope: Scope, model: dict) -> None:
    """A version a protected alias names or ever named is kept (archive it instead)."""
    rule = scope.alias_rules.pinning(model["_id"])
    if rule is not None:
        raise errors.VersionPinned("archive it instead", model=model["_id"], **describe(rule))


def refuse_emptying_projects(scope: Scope, project_ids: list[str], delete_contents: bool) -> None:
    """projects.delete deletes its models or moves them to the root: refused up front, before anything
    changes, when one of them is a governed version (kept, frozen, or holding a protected alias)."""
    if scope.alias_rules.find_one({}, {"_id": 1}, own_only=True) is None:
        return
    for model in scope.models.in_projects(project_ids):
        if delete_contents:
            refuse_delete(scope, model)
            continue
        refuse_change(scope, model, {"project": None})
        held = scope.registered_models.aliases_of(*registry_key(model), model["_id"])
        refuse_leaving(scope, model, held)


# --- reviewers ------------------------------------------------------------------------------------


def may_review(rule: dict, user: str, role: str) -> bool:
    if role in roles.READ_ONLY_ROLES:
        return False
    reviewers = rule.get("reviewers") or {}
    return user in (reviewers.get("users") or []) or role in (reviewers.get("roles") or [])


def render(rule: dict) -> dict:
    """A rule as the API shows it."""
    return {
        "id": rule["_id"], "project": rule.get("project"), "name": rule["name"], "alias": rule["alias"],
        "reviewers": {"roles": list((rule.get("reviewers") or {}).get("roles") or []),
                      "users": list((rule.get("reviewers") or {}).get("users") or [])},
        "required_approvals": int(rule.get("required_approvals") or 1),
        "require_signature": bool(rule.get("require_signature")),
        "sample_inputs": list(rule.get("sample_inputs") or []),
        "immutable": bool(rule.get("immutable", True)),
        "user": rule.get("user"), "created": rule.get("created"), "last_update": rule.get("last_update"),
    }
