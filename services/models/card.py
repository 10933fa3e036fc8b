"""The model card (modelreg extension, 2.99+): release notes, license / paper / source URLs and the
`signature` {input, output}: JSON Schemas of what the model takes and returns.

Every write of card fields goes through `prepare` (models.create, edit, update and update_for_task through
services/model_shapes.prepare_write): the URLs must be http(s) (`check_url`, shared with models.import_url,
which records the URL it fetched), and each signature part must pass the user JSON Schema guard
(services/shared/user_schemas.py, 400 naming `signature.input` or `signature.output`). A signature is stored as
JSON text: JSON Schema keys such as `$ref`, `$defs` or dotted property names are not portable MongoDB
field names. `decode` turns it back on the way out.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from services import errors
from services.shared import user_schemas

CARD_URLS = ("license_url", "paper_url", "source_url")
CARD_FIELDS = ("release_notes", *CARD_URLS, "signature")
SIGNATURE_PARTS = ("input", "output")
MAX_ERRORS = 50  # validate_input reports at most this many problems
MAX_URL_LENGTH = 2048
WEB_SCHEMES = ("http", "https")


def check_url(value, field: str, *, schemes: tuple[str, ...] = WEB_SCHEMES) -> str:
    """`value` when it is an absolute URL of one of `schemes` (a card link is shown to other users, so
    `javascript:` or `data:` must never be stored); 400/12 naming `field` otherwise."""
    wanted = " or ".join(schemes)
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise errors.ValidationError(f"must be an {wanted} URL of at most {MAX_URL_LENGTH} characters", field=field)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise errors.ValidationError("URL with spaces or control characters", field=field)
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes or not parts.netloc:
        raise errors.ValidationError(f"must be an {wanted} URL", field=field, value=value[:100])
    return value


def encode_signature(signature: dict, limits: user_schemas.Limits) -> dict:
    """The stored form of a signature sent by a client; a part that does not pass the guard is a 400."""
    return {part: user_schemas.check(signature[part], f"signature.{part}", limits)
            for part in SIGNATURE_PARTS if signature.get(part) is not None}


def prepare(fields: dict, limits: user_schemas.Limits) -> dict:
    """Card fields about to be written, checked and in their stored form."""
    for name in CARD_URLS:
        if fields.get(name) is not None:
            check_url(fields[name], name)
    if isinstance(fields.get("signature"), dict):
        fields["signature"] = encode_signature(fields["signature"], limits)
    return fields


def decode(doc: dict) -> None:
    """The signature of a stored model as the API shows it (JSON Schemas, not text)."""
    signature = doc.get("signature")
    if not isinstance(signature, dict):
        return
    doc["signature"] = {k: json.loads(v) if isinstance(v, str) else v for k, v in signature.items()}


def validate_payload(model: dict, data, limits: user_schemas.Limits) -> dict:
    """{valid, errors} of `data` against the model's input signature (400/12 when it declares none, or when
    the stored schema does not pass the guard)."""
    stored = (model.get("signature") or {}).get("input")
    if stored is None:
        raise errors.ValidationError("the model declares no input signature", field="signature.input",
                                     model=model["_id"])
    found = user_schemas.validate(stored, data, field="signature.input", limits=limits, max_errors=MAX_ERRORS)
    return {"valid": not found, "errors": found}
