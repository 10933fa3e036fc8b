"""models.* extensions of modelreg (declared at 2.99): registered models with numbered versions and
aliases, the lineage graph, input validation against the model card's signature, and the central
download of external weights (import_url).

A registered model is the caller's company's models with one name in one project; see
services/models/versioning.py. Reads see own and public models; writes touch own models only
(400/201 for another company's model, as everywhere).
"""

from __future__ import annotations

from services import errors
from services.call import Call
from services.handlers import handles
from services.models import card as model_card
from services.models import lineage, shapes, store, url_import, versioning
from services.promotion import rules
from services.shared import lookups, user_schemas

DEFAULT_LINEAGE_DEPTH = 3
MAX_LINEAGE_DEPTH = 10


def _registry_args(call: Call) -> tuple[str | None, str]:
    project = call.data.get("project") or None
    if project:
        lookups.readable_project(call.scope, project)
    return project, str(call.data["name"]).strip()


# --- versions ------------------------------------------------------------------------------------


@handles("models.get_versions")
def get_versions(call: Call) -> dict:
    project, name = _registry_args(call)
    docs, total = call.scope.model_versions.versions(project, name, call.data, default_size=50)
    registered = call.scope.registered_models.by_key(project, name) or {}
    aliases = registered.get("aliases") or {}
    alive = call.scope.models.readable_ids(aliases.values())  # an aliased model may have been deleted
    return {
        "models": [shapes.render(call, d) for d in docs],
        "total": total,
        "last_version": int(registered.get("last_version") or 0),
        "aliases": {alias: model for alias, model in aliases.items() if model in alive},
        "alias_history": versioning.alias_history(call.scope, project, name),
        "protected_aliases": {a: rules.render(r)
                              for a, r in rules.protected_aliases(call.scope, project, name).items()},
    }


@handles("models.get_latest")
def get_latest(call: Call) -> dict:
    project, name = _registry_args(call)
    doc = call.scope.model_versions.latest(project, name, bool(call.data.get("ready_only")))
    if doc is None:
        raise errors.InvalidModelId("no version of this model", project=project, name=name)
    return {"model": shapes.render(call, doc)}


# --- aliases -------------------------------------------------------------------------------------


@handles("models.set_alias")
def set_alias(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    return versioning.set_alias(call.scope, model, call.data["alias"], call.identity.user)


@handles("models.delete_alias")
def delete_alias(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    return {"deleted": versioning.delete_alias(call.scope, model, call.data["alias"], call.identity.user)}


@handles("models.get_by_alias")
def get_by_alias(call: Call) -> dict:
    project, name = _registry_args(call)
    model = versioning.model_by_alias(call.scope, project, name, call.data["alias"])
    return {"model": shapes.render(call, model)}


# --- lineage and the model card ------------------------------------------------------------------


def _depth_limits(call: Call) -> tuple[int, int]:
    config = call.config
    default = int(config.get("lineage.default_depth", DEFAULT_LINEAGE_DEPTH)) if config else DEFAULT_LINEAGE_DEPTH
    most = int(config.get("lineage.max_depth", MAX_LINEAGE_DEPTH)) if config else MAX_LINEAGE_DEPTH
    return default, most


@handles("models.get_lineage")
def get_lineage(call: Call) -> dict:
    model = lookups.readable_model(call.scope, call.data["model"])
    default, most = _depth_limits(call)
    depth = call.data.get("depth")
    depth = default if depth is None else int(depth)
    if depth > most:
        raise errors.ValidationError(f"depth is at most {most} (lineage.max_depth)", field="depth")
    return lineage.lineage(call.scope, model, depth)


@handles("models.validate_input")
def validate_input(call: Call) -> dict:
    model = lookups.readable_model(call.scope, call.data["model"], {"_id": 1, "signature": 1})
    if "data" not in call.data:
        raise errors.MissingRequiredFields(missing=["data"])
    return model_card.validate_payload(model, call.data["data"], user_schemas.limits_from(call.config))


# --- central download ----------------------------------------------------------------------------


@handles("models.import_url")
def import_url(call: Call) -> dict:
    model = lookups.writable_model(call.scope, call.data["model"])
    return url_import.import_url(
        call.scope, call.stores, call.identity.user, model["_id"], call.data["url"],
        base_url=store.public_base_url(call.config, call.headers), filename=call.data.get("filename"),
        content_type=call.data.get("content_type"), sha256=call.data.get("sha256"))
