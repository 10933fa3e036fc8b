"""tasks.get_all_ex `only_fields` such as `models.input.model.name` (the web app's compare page): a task's
model entries are `{name, model: <id>}`, so the projection asks for the whole entries and the named fields
of the referenced models are joined in afterwards, each `model` becoming `{"id": ..., "name": ...}` as the
ClearML server answers (its get_all_ex joins reference fields inside the `models` lists too)."""

from __future__ import annotations

from services.call import Call

KINDS = ("input", "output")


def _wanted(only_fields) -> dict[str, list[str]]:
    """{kind: [model fields]} for every `models.<kind>.model.<field>` listed."""
    wanted: dict[str, list[str]] = {}
    for name in only_fields or []:
        parts = name.split(".") if isinstance(name, str) else []
        if len(parts) == 4 and parts[0] == "models" and parts[1] in KINDS and parts[2] == "model" and parts[3]:
            wanted.setdefault(parts[1], []).append(parts[3])
    return wanted


def prepare(call: Call, data: dict, extended: bool) -> None:
    """Asks for `models.<kind>` in place of `models.<kind>.model.<field>`."""
    wanted = _wanted(data.get("only_fields")) if extended else {}
    if not wanted:
        return None
    fields = []
    for name in data["only_fields"]:
        parts = name.split(".")
        name = ".".join(parts[:2]) if len(parts) == 4 and parts[0] == "models" and parts[1] in wanted else name
        if name not in fields:
            fields.append(name)
    data["only_fields"] = fields
    return None


def extend(call: Call, data: dict, docs: list[dict]) -> None:
    """Joins the listed fields of the referenced models the caller may read (one query for the page)."""
    wanted = _wanted(call.data.get("only_fields"))
    if not wanted:
        return
    entries = [e for d in docs for kind in wanted for e in ((d.get("models") or {}).get(kind) or [])
               if isinstance(e, dict) and isinstance(e.get("model"), str)]
    subfields = sorted({f for fields in wanted.values() for f in fields if f != "id"})
    ids = list({e["model"] for e in entries})
    found = {}
    if ids and subfields:
        found = {m["_id"]: m for m in call.scope.models.get_many(ids, {f: 1 for f in subfields})}
    for entry in entries:
        model = found.get(entry["model"], {})
        entry["model"] = {"id": entry["model"], **{f: model[f] for f in subfields if f in model}}
