"""OpenAPI 3.1 generated from the schema registry: `python -m server openapi > openapi.json`.

One POST operation per endpoint version at `/api/v<major.minor>/<service>.<action>`. Request and
response bodies are the schema files' own JSON Schemas; `#/definitions/x` of a service becomes
`#/components/schemas/<service>.x`, and the response is wrapped in the ClearML envelope.
"""

from __future__ import annotations

import json
import re
import sys

from server.contract.schema_check import SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES
from server.contract.schema_registry import EndpointVersion, SchemaRegistry
from services.call import Version, format_version

ERROR_STATUSES = {
    "400": "Bad request: malformed body, invalid id or a failed validation (subcode 12)",
    "401": "Missing or invalid credentials",
    "403": "The caller's role may not call this endpoint, or may not touch this object",
    "404": "No such endpoint (or no version of it at or below the requested one)",
    "500": "Internal error; the message leaks no internals, the log has the trx id",
}
BINARY = {"type": "string", "format": "binary"}
NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
DATA_KEYWORDS = frozenset({"default", "examples", "example", "enum", "const"})
ALL_CREDENTIALS = [{"basicAuth": []}, {"bearerAuth": []}]

DESCRIPTION = """\
Generated from the schema files under `schema/services/`.

* Every endpoint is `POST /api/v<major.minor>/<service>.<action>`; `GET` with the same JSON body works
  too (the ClearML SDK sends it), and so do `/v<major.minor>/...` and the unversioned `/<service>.<action>`
  (which means API version {api_version}).
* Query-string parameters are merged over the JSON body.
* A request for a version that is not declared is served by the highest declared version below it;
  requests above the newest get the newest. The paths below list the declared versions.
* Every reply is the ClearML envelope: `meta` (call id, trx, endpoint and versions, result code, subcode
  and message) and `data`. The HTTP status is always `meta.result_code`.
* Credentials: HTTP Basic with an access key and secret, or a Bearer token from `auth.login`.
"""

META_SCHEMA = {
    "type": "object",
    "required": ["id", "trx", "endpoint", "result_code", "result_subcode", "result_msg"],
    "properties": {
        "id": {"type": "string", "description": "Call id"},
        "trx": {"type": "string", "description": "Transaction id (X-ClearML-Trx, or the call id)"},
        "endpoint": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "requested_version": {"type": ["string", "null"]},
                "actual_version": {"type": ["string", "null"]},
            },
        },
        "result_code": {"type": "integer", "description": "The HTTP status"},
        "result_subcode": {"type": "integer", "description": "ClearML error subcode, 0 on success"},
        "result_msg": {"type": "string"},
        "error_stack": {"type": ["string", "null"]},
        "error_data": {"type": "object"},
    },
}
ERROR_ENVELOPE = {
    "type": "object",
    "required": ["meta", "data"],
    "properties": {"meta": {"$ref": "#/components/schemas/EnvelopeMeta"}, "data": {"type": "object"}},
}


def component_name(*parts: str) -> str:
    return NAME_CHARS.sub("_", ".".join(parts))


class _Converter:
    """Draft 7 (the schema files) to OpenAPI 3.1's JSON Schema 2020-12, `$ref`s pointed at components."""

    def __init__(self, refs: dict[str, str]):
        self.refs = refs  # definition name -> component name

    def __call__(self, schema):
        if not isinstance(schema, dict):
            return schema
        out: dict = {}
        for key, value in schema.items():
            if key in ("definitions", "$schema"):
                continue
            if key == "$ref" and isinstance(value, str):
                out[key] = self._ref(value)
            elif key == "dependencies" and isinstance(value, dict):
                required = {k: v for k, v in value.items() if isinstance(v, list)}
                schemas = {k: self(v) for k, v in value.items() if not isinstance(v, list)}
                if required:
                    out["dependentRequired"] = required
                if schemas:
                    out["dependentSchemas"] = schemas
            elif key == "items" and isinstance(value, list):
                out["prefixItems"] = [self(v) for v in value]
                if "additionalItems" in schema:
                    out["items"] = self(schema["additionalItems"])
            elif key == "additionalItems":
                if not isinstance(schema.get("items"), list):
                    continue  # Draft 7 ignores it unless items is a list
            elif key in SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {k: self(v) for k, v in value.items()}
            elif key in SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self(v) for v in value]
            elif key in SCHEMA_VALUES:
                out[key] = self(value)
            elif key in DATA_KEYWORDS:
                out[key] = value
            elif isinstance(value, list):  # e.g. "type", "required", or a template's nested schemas
                out[key] = [self(v) for v in value]
            else:
                out[key] = self(value)
        return out

    def _ref(self, ref: str) -> str:
        prefix = "#/definitions/"
        if ref.startswith(prefix):
            head, _, rest = ref[len(prefix):].partition("/")
            if head in self.refs:
                return f"#/components/schemas/{self.refs[head]}" + (f"/{rest}" if rest else "")
        return ref


def build_openapi(registry: SchemaRegistry, api_version: Version) -> dict:
    components: dict = {"EnvelopeMeta": META_SCHEMA, "ErrorEnvelope": ERROR_ENVELOPE}
    service_refs: dict[str, dict[str, str]] = {}
    for service in sorted(registry.services.values(), key=lambda s: s.name):
        refs = {name: component_name(service.name, name) for name in service.definitions}
        service_refs[service.name] = refs
        convert = _Converter(refs)
        for name, definition in service.definitions.items():
            components[refs[name]] = convert(definition)

    paths: dict = {}
    for name in sorted(registry.endpoints):
        versions = registry.endpoints[name]
        for number, endpoint in enumerate(versions):
            following = versions[number + 1].version if number + 1 < len(versions) else None
            service = name.split(".", 1)[0]
            refs = dict(service_refs.get(service, {}))
            for schema in (endpoint.request_schema, endpoint.response_schema):
                for local, definition in schema.get("definitions", {}).items():
                    refs[local] = component_name(name, endpoint.version_text, local)
                    components[refs[local]] = definition  # converted below, once every name is known
            convert = _Converter(refs)
            for schema in (endpoint.request_schema, endpoint.response_schema):
                for local in schema.get("definitions", {}):
                    components[refs[local]] = convert(components[refs[local]])
            path = f"/api/v{endpoint.version_text}/{name}"
            paths[path] = {"post": _operation(endpoint, following, convert)}

    tags = [
        {"name": s.name, **({"description": str(s.description)} if s.description else {})}
        for s in sorted(registry.services.values(), key=lambda s: s.name)
    ]
    version_text = format_version(api_version)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelreg API",
            "version": version_text,
            "description": DESCRIPTION.format(api_version=version_text),
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "security": ALL_CREDENTIALS,
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                "Error": {
                    "description": "A failed call: the envelope with the error's code, subcode and message",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
                }
            },
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "access key : secret key"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }


def _operation(endpoint: EndpointVersion, following: Version | None, convert: _Converter) -> dict:
    name = endpoint.name
    served = f"requested versions {endpoint.version_text}" + (
        f" up to (not including) {format_version(following)}" if following else " and above"
    )
    notes = [f"Serves {served}."]
    if endpoint.allow_roles and "*" not in endpoint.allow_roles:
        notes.append(f"Roles: {', '.join(endpoint.allow_roles)}.")
    if endpoint.internal:
        notes.append("Internal endpoint.")
    text = str(endpoint.description or "").strip()
    description = "\n\n".join(filter(None, [text, " ".join(notes)]))
    operation: dict = {
        "tags": [name.split(".", 1)[0]],
        "summary": _first_sentence(text) or name,
        "description": description,
        "operationId": f"{name}@{endpoint.version_text}",
    }
    if endpoint.authorize is False:
        operation["security"] = []
    elif endpoint.authorize is None:
        operation["security"] = [{}, *ALL_CREDENTIALS]

    request = convert(endpoint.request_schema)
    if endpoint.raw_body:
        parameters = _query_parameters(request)
        if parameters:
            operation["parameters"] = parameters
        operation["requestBody"] = {
            "description": "The file's bytes; the call's parameters go in the query string",
            "content": {"application/octet-stream": {"schema": BINARY}},
        }
    elif endpoint.batch:
        operation["requestBody"] = {
            "description": "Batch items: one JSON object per line (application/json-lines), or a JSON array",
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": request}}},
        }
    else:
        operation["requestBody"] = {
            "required": bool(request.get("required")),
            "content": {"application/json": {"schema": request}},
        }
        if endpoint.form_body:  # the same fields as a form, with an optional last `file` part
            form = {**request, "properties": {**request.get("properties", {}), "file": BINARY}}
            operation["requestBody"]["content"]["multipart/form-data"] = {"schema": form}

    response = convert(endpoint.response_schema)
    if endpoint.stream_response:
        ok = {  # the media type is the one recorded with the file
            "description": "The file's bytes",
            "content": {"application/octet-stream": {"schema": BINARY}, "*/*": {"schema": BINARY}},
        }
        headers = {
            header: {"schema": schema, **({"description": schema["description"]} if "description" in schema else {})}
            for header, schema in response.get("properties", {}).items()
            if isinstance(schema, dict)
        }
        if headers:
            ok["headers"] = headers
    else:
        envelope = {
            "type": "object",
            "required": ["meta", "data"],
            "properties": {"meta": {"$ref": "#/components/schemas/EnvelopeMeta"}, "data": response},
        }
        ok = {
            "description": "OK: the envelope, with the result in data",
            "content": {"application/json": {"schema": envelope}},
        }
        if "ndjson" in endpoint.stream_formats:  # with Accept: application/x-ndjson, one result item a line
            ok["content"]["application/x-ndjson"] = {"schema": {"type": "string"}}
    responses = {"200": ok}
    for status, text in ERROR_STATUSES.items():
        responses[status] = {"$ref": "#/components/responses/Error", "description": text}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    operation["responses"] = responses
    return operation


def _first_sentence(text: str, limit: int = 100) -> str:
    sentence = text.split(". ", 1)[0].split("\n", 1)[0].rstrip(".")
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


def _query_parameters(request: dict) -> list[dict]:
    required = set(request.get("required", []))
    parameters = []
    for name, schema in request.get("properties", {}).items():
        if not isinstance(schema, dict):
            continue
        parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if "description" in schema:
            parameter["description"] = str(schema["description"])
        parameters.append(parameter)
    return parameters


def main(argv: list[str]) -> int:
    from server.config import load_config, schema_dir
    from server.contract.schema_registry import SchemaLoadError, load_registry
    from services.call import parse_version

    if argv[:1] in (["-h"], ["--help"]) or len(argv) > 1:
        print("usage: python -m server openapi [SCHEMA_DIR] > openapi.json")
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    config = load_config()
    try:
        registry = load_registry(argv[0] if argv else schema_dir(config))
    except SchemaLoadError as exc:
        print(exc, file=sys.stderr)
        return 1
    api_version = max(parse_version(config.get("server.api_version")), registry.newest_version)
    json.dump(build_openapi(registry, api_version), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
