"""models.get_at: a model, or the model an alias named, as it was at a past time (the change log)."""

from __future__ import annotations

from database.query.dates import parse_datetime
from services import errors
from services.call import Call
from services.changes import sequencer
from services.changes.entries import plain
from services.changes.history import alias_target, rebuild
from services.handlers import handles


def _shown(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    shown = plain({k: v for k, v in doc.items() if k != "_id"})
    return {"id": doc.get("_id"), **shown}


@handles("models.get_at")
def get_at(call: Call) -> dict:
    data = call.data
    at = parse_datetime(data["at"], "at")
    log = call.scope.change_log
    sequencer.catch_up(log, call.stores.change_settings)
    reply: dict = {}
    model_id = data.get("model")
    if not model_id:
        if not data.get("name") or not data.get("alias"):
            raise errors.MissingRequiredFields("model, or name and alias", field="model")
        registered = call.scope.registered_models.by_key(data.get("project"), data["name"])
        model_id = alias_target(log, registered["_id"], data["alias"], at) if registered else None
        reply["alias_target"] = model_id
        if model_id is None:
            return {**reply, "model": None, "from_log": registered is not None}
    today = call.scope.models.get_writable(model_id)
    doc, from_log = rebuild(log, model_id, at, today)
    if doc is not None and doc.get("_id") is None:
        doc["_id"] = model_id
    return {**reply, "model": _shown(doc), "from_log": from_log}
