"""How models look at each API version, and how request fields become stored fields.

Shared by the models handler modules (services/models/crud.py, services/models/lifecycle.py).
"""

from __future__ import annotations

from database.collections import models_db
from services import errors
from services.call import EXTENSIONS_FROM, Call
from services.models import card as model_card
from services.shared import legacy_tags, user_schemas

OP_PREFIX = "__$"
# Fields whose change moves last_update (not only last_change).
CONTENT_FIELDS = frozenset({"uri", "framework", "design", "labels", "ready", "metadata", "system_tags", "tags"})
EDIT_FIELDS = ("name", "uri", "comment", "tags", "system_tags", "framework", "design", "labels", "ready",
               "project", "parent", "task", "ui_cache", "metadata")
CREATE_FIELDS = EDIT_FIELDS
UPDATE_FIELDS = ("name", "comment", "tags", "system_tags", "uri", "ui_cache", "metadata", "project", "created")


# --- version-dependent shapes ----------------------------------------------------------------------


def conform_output(call: Call, docs: list[dict]) -> list[dict]:
    """Below 2.3 system tags are merged into tags; up to 2.16 metadata is shown as []."""
    no_metadata = call.requested_version <= (2, 16)
    merged_tags = legacy_tags.legacy(call)
    for doc in docs:  # a page runs this per model: what depends on the call alone is decided once
        if "signature" in doc:
            model_card.decode(doc)
        if merged_tags:
            legacy_tags.merge_reply_tags(call, doc)
        if no_metadata and "metadata" in doc:
            doc["metadata"] = []
    return docs


def conform_tags_input(call: Call, fields: dict) -> None:
    """Refuses the query-operator prefix in tags; below 2.3 moves system tags sent in `tags` to system_tags."""
    for key in ("tags", "system_tags"):
        bad = [t for t in fields.get(key) or () if t.startswith(OP_PREFIX)]
        if bad:
            raise errors.FieldsValueError("unsupported tag prefix", values=bad)
    if fields.get("tags") is not None:
        legacy_tags.split_written_tags(call, fields, legacy_tags.MODEL_SYSTEM_TAGS)
        fields.setdefault("tags", [])


# --- field preparation ---------------------------------------------------------------------------


def fields_from(call: Call, names) -> dict:
    """The listed request fields that were sent with a non-null value."""
    return {k: call.data[k] for k in names if call.data.get(k) is not None}


def with_extensions(call: Call, names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` plus the model card fields when the request asks for 2.99+ (below, such keys are
    unknown keys and ignored, as ClearML would)."""
    return names + model_card.CARD_FIELDS if call.requested_version >= EXTENSIONS_FROM else names


def prepare_write(call: Call, fields: dict) -> dict:
    """Shared by create, edit and update: tags, labels, metadata and the ui_cache reset."""
    conform_tags_input(call, fields)
    if "uri" in fields and "ui_cache" not in fields:
        fields["ui_cache"] = {}  # a new uri means the cached UI data describes old weights
    if "labels" in fields:
        bad = [k for k, v in fields["labels"].items() if not isinstance(v, int) or isinstance(v, bool)]
        if bad:
            raise errors.ValidationError("labels values must be integers", keys=bad)
    if "metadata" in fields:
        fields["metadata"] = models_db.metadata_map(metadata_items(fields["metadata"]))
    return model_card.prepare(fields, user_schemas.limits_from(call.config))


def metadata_items(metadata: dict | list) -> list[dict]:
    """ClearML's map `{key: {key, type, value}}` (the map key names the entry) or our list form, as a list."""
    if isinstance(metadata, dict):
        return [{**(item or {}), "key": key} for key, item in metadata.items()]
    return metadata


def content_changed(fields: dict) -> bool:
    return any(f in CONTENT_FIELDS for f in fields)


def reply_fields(call: Call, written: dict) -> dict:
    out = dict(written)
    if "metadata" in out:
        out["metadata"] = models_db.unescape_metadata(out["metadata"])
    conform_output(call, [out])
    return out


def render(call: Call, doc: dict) -> dict:
    """A stored model as the requested version shows it."""
    return conform_output(call, [models_db.to_api(doc)])[0]
