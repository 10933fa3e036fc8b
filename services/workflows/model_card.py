"""The model card (modelreg extension, 2.99+): release notes, license / paper / source URLs and the
`signature` {input, output}: JSON Schemas of what the model takes and returns.

A signature is checked as a JSON Schema when written (400 naming `signature.input` or
`signature.output`) and stored as JSON text: JSON Schema keys such as `$ref`, `$defs` or dotted
property names are not portable MongoDB field names. `decode` turns it back on the way out.
"""

from __future__ import annotations

import json

import jsonschema
from jsonschema.exceptions import SchemaError

from services import errors

CARD_FIELDS = ("release_notes", "license_url", "paper_url", "source_url", "signature")
SIGNATURE_PARTS = ("input", "output")
MAX_ERRORS = 50  # validate_input reports at most this many problems


def _validator_class(schema: dict):
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def encode_signature(signature: dict) -> dict:
    """The stored form of a signature sent by a client; a part that is not a valid JSON Schema is 400/12."""
    stored = {}
    for part in SIGNATURE_PARTS:
        schema = signature.get(part)
        if schema is None:
            continue
        if not isinstance(schema, (dict, bool)):
            raise errors.ValidationError("must be a JSON Schema object", field=f"signature.{part}")
        try:
            _validator_class(schema if isinstance(schema, dict) else {}).check_schema(schema)
        except SchemaError as exc:
            raise errors.ValidationError(f"not a valid JSON Schema ({exc.message})", field=f"signature.{part}",
                                         at="/".join(str(p) for p in exc.path)) from None
        stored[part] = json.dumps(schema, separators=(",", ":"))
    return stored


def prepare(fields: dict) -> dict:
    """Card fields about to be written, in their stored form."""
    if isinstance(fields.get("signature"), dict):
        fields["signature"] = encode_signature(fields["signature"])
    return fields


def decode(doc: dict) -> None:
    """The signature of a stored model as the API shows it (JSON Schemas, not text)."""
    signature = doc.get("signature")
    if not isinstance(signature, dict):
        return
    doc["signature"] = {k: json.loads(v) if isinstance(v, str) else v for k, v in signature.items()}


def validate_payload(model: dict, data) -> dict:
    """{valid, errors} of `data` against the model's input signature (400/12 when it declares none)."""
    stored = (model.get("signature") or {}).get("input")
    if stored is None:
        raise errors.ValidationError("the model declares no input signature", field="signature.input",
                                     model=model["_id"])
    schema = json.loads(stored) if isinstance(stored, str) else stored
    validator = _validator_class(schema if isinstance(schema, dict) else {})(schema)
    found = []
    for error in validator.iter_errors(data):
        found.append({"path": "/".join(str(p) for p in error.absolute_path), "message": error.message})
        if len(found) >= MAX_ERRORS:
            break
    return {"valid": not found, "errors": found}
