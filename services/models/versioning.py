"""Registered models (modelreg extension): version numbers and aliases of the models that share a name
in a project. database/collections/model_versions_db.py keeps the counter and the alias map; this module is what
create, edit, move and the alias endpoints do with them.
"""

from __future__ import annotations

import random
import time

from database.collections import models_db
from database.collections.scope import Scope
from services import errors
from services.promotion import rules


def registry_key(model: dict) -> tuple[str | None, str]:
    return model.get("project") or None, model.get("name") or ""


def assign_version(scope: Scope, fields: dict) -> None:
    """Gives a model about to be created the next version number of its (project, name)."""
    name = models_db.normalize_name(fields.get("name"))
    fields["version"] = scope.registered_models.next_version(fields.get("project") or None, name)


def regroup(scope: Scope, before: dict, after_fields: dict, user: str) -> dict:
    """A model renamed or moved to another project joins another registered model: it takes that one's
    next version number and loses the aliases of the one it left. Returns the fields written (or {})."""
    project = after_fields.get("project", before.get("project")) or None
    name = after_fields.get("name", before.get("name")) or ""
    old_project, old_name = registry_key(before)
    name = models_db.normalize_name(name)
    if (project, name) == (old_project, old_name.strip()):
        return {}
    held = scope.registered_models.aliases_of(old_project, old_name, before["_id"])
    for alias in held:
        _move(scope, before, alias, None, user, only_from=before["_id"])
    fields = {"version": scope.registered_models.next_version(project, name), "aliases": []}
    # the alias copy restarts with the new registered model's sequence
    return scope.models.update_fields(before["_id"], fields, user, content_changed=False, unset_fields=("alias_seq",))


def check_change(scope: Scope, before: dict, fields: dict) -> None:
    """Before an edit, update or move writes anything: a published version under an immutable rule keeps
    its frozen fields, and a version holding a protected alias does not leave its registered model."""
    rules.refuse_change(scope, before, fields)
    project = fields.get("project", before.get("project")) or None
    name = str(fields.get("name", before.get("name")) or "").strip()
    if (project, name) != rules.registry_key(before):
        held = scope.registered_models.aliases_of(*registry_key(before), before["_id"])
        rules.refuse_leaving(scope, before, held)


def sync_copies(scope: Scope, registered: dict, model_ids) -> None:
    """Refreshes the alias copies on the models after a move of the registered model's aliases."""
    aliases = registered.get("aliases") or {}
    seq = int(registered.get("alias_seq") or 0)
    for model_id in {m for m in model_ids if m}:
        scope.model_versions.sync_aliases(model_id, [a for a, m in aliases.items() if m == model_id], seq)


def _version_of(scope: Scope, model_id: str | None):
    doc = scope.models.get(model_id, {"version": 1}) if model_id else None
    return (doc or {}).get("version")


# moves of the same alias that came in between: read again and try again, after a short random pause that
# grows with each attempt, so that movers racing for one alias spread out
MOVE_ATTEMPTS = 30
MOVE_PAUSE_SEC, MOVE_PAUSE_MAX_SEC = 0.001, 0.05


def _move(scope: Scope, model: dict, alias: str, target: str | None, user: str, extra: dict | None = None,
          pin: dict | None = None, create: bool = False, only_from: str | None = None) -> str | None:
    """Moves (target = model id) or removes (None) the alias of the model's registered model and records
    the change (with `extra`, e.g. a break-glass reason) in its history in the same atomic update: a
    compare-and-set on the model the alias named when read, tried again when another move came in
    between, so the history lists moves in the order they happened, each with what it replaced. Pins the
    new version under `pin` (the alias's protection rule) and refreshes the models' copies. `create`: a
    model older than versions may have no registered model yet; `only_from`: only while the alias names
    this model (else nothing changes and None is returned). Returns the model the alias named before."""
    project, name = registry_key(model)
    registry = scope.registered_models
    for attempt in range(MOVE_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(MOVE_PAUSE_MAX_SEC, MOVE_PAUSE_SEC * 2 ** attempt)))
        aliases = registry.alias_map(project, name)
        if aliases is None and create:
            registry.ensure(project, name)
            aliases = registry.alias_map(project, name)
        if aliases is None:
            raise errors.InvalidModelId("the model's registered model is gone", model=model["_id"])
        previous = aliases.get(alias)
        if only_from is not None and previous != only_from:
            return None
        registered = registry.move_alias_if(project, name, alias, previous, target, {
            "alias": alias, "model": target, "version": model.get("version") if target else None,
            "previous": previous, "previous_version": _version_of(scope, previous), "user": user, **(extra or {})})
        if registered is not None:
            break
    else:
        raise errors.ServiceBusy("the alias kept moving; try again", alias=alias)
    if pin is not None and target:
        scope.alias_rules.pin(pin["_id"], [target])
    sync_copies(scope, registered, [model["_id"], previous])
    return previous


def set_alias(scope: Scope, model: dict, alias: str, user: str) -> dict:
    """Moves `alias` of the model's registered model to this model. Returns {alias, model, previous}."""
    rules.refuse_direct_move(scope, model, alias)  # so no rule to pin under
    previous = _move(scope, model, alias, model["_id"], user, create=True)
    return {"alias": alias, "model": model["_id"], "version": model.get("version"), "previous": previous}


def delete_alias(scope: Scope, model: dict, alias: str, user: str) -> bool:
    """Removes `alias` when it names this model; False when it does not."""
    if alias not in scope.registered_models.aliases_of(*registry_key(model), model["_id"]):
        return False
    rules.refuse_direct_move(scope, model, alias)
    return _move(scope, model, alias, None, user, only_from=model["_id"]) == model["_id"]


def break_glass(scope: Scope, model: dict, alias: str, user: str, reason: str) -> dict:
    """An admin's direct move of an alias, protected or not, recorded as a break-glass move."""
    pin = rules.rule_for(scope, *registry_key(model), alias)
    previous = _move(scope, model, alias, model["_id"], user, {"break_glass": {"reason": reason}}, pin, create=True)
    return {"alias": alias, "model": model["_id"], "version": model.get("version"), "previous": previous,
            "break_glass": True}


def model_by_alias(scope: Scope, project: str | None, name: str, alias: str) -> dict:
    """The readable model the alias of the caller's registered model (project, name) names."""
    registered = scope.registered_models.by_key(project or None, name.strip())
    model_id = ((registered or {}).get("aliases") or {}).get(alias)
    model = scope.models.get(model_id) if model_id else None
    if model is None:
        raise errors.InvalidModelId("no model has this alias", project=project, name=name, alias=alias)
    return model


def alias_history(scope: Scope, project: str | None, name: str, limit: int = 50, alias: str | None = None
                  ) -> list[dict]:
    """The registered model's alias changes, newest first (of one alias when given)."""
    registered = scope.registered_models.by_key(project or None, name.strip())
    entries = reversed((registered or {}).get("alias_history") or [])
    return [e for e in entries if alias is None or e.get("alias") == alias][:limit]
