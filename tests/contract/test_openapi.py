"""The OpenAPI 3.1 document generated from the schema files, and the routes that serve it."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from server.config import load_config, schema_dir
from server.contract.openapi import build_openapi
from server.contract.reload import reload_app
from server.contract.schema_registry import load_schemas
from server.http.docs_route import ASSET_TYPES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = schema_dir(load_config(env={k: v for k, v in os.environ.items() if k == "MODELREG_SERVER_SCHEMA_DIR"}))
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

FILES = """
_definitions {
    ref { type: object, properties { id { type: string } } }
    pair { type: array, items: [{type: string}, {type: integer}], additionalItems: false }
}
upload {
    "2.13" {
        raw_body: true
        request { type: object, required: [model], properties { model { type: string }, sha256 { type: string } } }
        response { type: object, properties { file { "$ref": "#/definitions/ref" } } }
    }
}
download {
    "2.13" {
        stream_response: true
        request { type: object, required: [model], properties { model { type: string } } }
        response { type: object, properties { Content-Length { type: integer } } }
    }
}
append {
    authorize: null
    "2.13" {
        batch_request { type: object, properties { pair { "$ref": "#/definitions/pair" } } }
        response { type: object, properties { added { type: integer } } }
    }
}
"""


@functools.cache
def shipped_registry():
    registry, problems = load_schemas(SHIPPED)
    assert problems == []
    return registry


def shipped_document() -> dict:
    return build_openapi(shipped_registry(), (2, 34))


def refs_in(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def resolve(document: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_the_shipped_document_is_valid_openapi_3_1():
    document = shipped_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_one_post_path_per_endpoint_version():
    registry = shipped_registry()
    document = build_openapi(registry, (2, 34))
    expected = {f"/api/v{v.version_text}/{name}" for name, vs in registry.endpoints.items() for v in vs}
    assert set(document["paths"]) == expected
    for path, item in document["paths"].items():
        assert set(item) & METHODS == {"post"}, path
        assert "GET" in document["info"]["description"]
    operation_ids = [item["post"]["operationId"] for item in document["paths"].values()]
    assert len(set(operation_ids)) == len(operation_ids)


def test_every_ref_points_into_components_and_resolves():
    document = shipped_document()
    refs = set(refs_in(document))
    assert refs and not [r for r in refs if r.startswith("#/definitions/")]
    for ref in refs:
        assert ref.startswith(("#/components/schemas/", "#/components/responses/")), ref
        resolve(document, ref)


def test_security_follows_authorize():
    document = shipped_document()
    schemes = document["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic", "description": "access key : secret key"}
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert document["security"] == [{"basicAuth": []}, {"bearerAuth": []}]
    assert document["paths"]["/api/v1.0/debug.ping"]["post"]["security"] == []
    assert "security" not in document["paths"]["/api/v1.0/server.info"]["post"]  # the global one applies


def test_success_is_the_envelope_and_errors_are_declared():
    document = shipped_document()
    operation = document["paths"]["/api/v2.12/server.info"]["post"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["meta", "data"]
    assert ok["properties"]["meta"] == {"$ref": "#/components/schemas/EnvelopeMeta"}
    assert "api_version" in ok["properties"]["data"]["properties"]
    for status in ("400", "401", "403", "404", "500"):
        assert operation["responses"][status]["$ref"] == "#/components/responses/Error"
    error = document["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_raw_body_stream_response_batch_and_local_refs(tmp_path):
    (tmp_path / "files.conf").write_text(FILES)
    registry, problems = load_schemas(tmp_path)
    assert problems == []
    document = build_openapi(registry, (2, 34))
    validate(document)
    upload = document["paths"]["/api/v2.13/files.upload"]["post"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    assert upload["requestBody"]["content"] == {"application/octet-stream": binary}
    assert [(p["name"], p["in"], p["required"]) for p in upload["parameters"]] == [
        ("model", "query", True), ("sha256", "query", False)
    ]
    data = upload["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert data["properties"]["file"] == {"$ref": "#/components/schemas/files.ref"}

    download = document["paths"]["/api/v2.13/files.download"]["post"]
    assert download["responses"]["200"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert download["responses"]["200"]["headers"]["Content-Length"]["schema"] == {"type": "integer"}
    assert download["requestBody"]["content"]["application/json"]["schema"]["required"] == ["model"]

    append = document["paths"]["/api/v2.13/files.append"]["post"]
    assert append["security"] == [{}, {"basicAuth": []}, {"bearerAuth": []}]  # credentials optional
    items = append["requestBody"]["content"]["application/json"]["schema"]
    assert items["type"] == "array"
    # Draft 7 tuple items become 2020-12 prefixItems
    assert document["components"]["schemas"]["files.pair"] == {
        "type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False
    }


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validate_against_document(document: dict, path: str, body: dict, status: str = "200") -> list[str]:
    """Checks a reply body against the document's schema for it, `$ref`s resolved within the document."""
    response = document["paths"][path]["post"]["responses"][status]
    where = ("components", "responses", "Error") if "$ref" in response else ("paths", path, "post", "responses", status)
    validator = Draft202012Validator({**document, "$ref": _pointer(*where, "content", "application/json", "schema")})
    return [e.message for e in validator.iter_errors(body)]


def test_real_replies_match_the_document(app, client, anon):
    document = build_openapi(app.modelreg_state.registry, app.modelreg_state.api_version)
    assert _validate_against_document(document, "/api/v1.0/debug.ping", anon.call("debug.ping").json) == []
    for version in ("1.0", "2.8", "2.12"):
        reply = client.call("server.info", version=version).json
        assert _validate_against_document(document, f"/api/v{version}/server.info", reply) == []
    failed = anon.call("server.info", version="2.12").json
    assert failed["meta"]["result_code"] == 401
    assert _validate_against_document(document, "/api/v2.12/server.info", failed, "401") == []


def test_the_document_and_docs_page_are_served_without_credentials(app, anon):
    reply = anon.raw("/openapi.json", method="GET")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    state = app.modelreg_state
    assert reply.json == json.loads(json.dumps(build_openapi(state.registry, state.api_version)))
    page = anon.raw("/docs", method="GET")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in page.text and "validatorUrl: null" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from another host
    for name, content_type in ASSET_TYPES.items():
        asset = anon.raw(f"/docs/assets/{name}", method="GET")
        assert asset.status_code == 200 and asset.headers["content-type"] == content_type
        assert len(asset.content) > 100
    assert anon.raw("/docs/assets/../../setup.cfg", method="GET").status_code in (400, 404)
    assert anon.raw("/docs/assets/index.html", method="GET").status_code == 404


@pytest.mark.fresh_database  # reloads the app's schemas
def test_the_served_document_follows_a_reload(app, anon, tmp_path):
    folder = tmp_path / "services"
    shutil.copytree(SHIPPED, folder)
    with open(folder / "server.conf", "a") as conf:
        conf.write('\ninfo {\n  "2.35": ${info."2.12"} { description: "Newer" }\n}\n')
    assert "/api/v2.35/server.info" not in anon.raw("/openapi.json", method="GET").json["paths"]
    assert reload_app(app, folder) == []
    document = anon.raw("/openapi.json", method="GET").json
    assert "/api/v2.35/server.info" in document["paths"]
    assert document["info"]["version"] == "2.35"


def test_the_command_line_prints_the_document():
    env = {**os.environ, "MODELREG_SERVER_SCHEMA_DIR": str(SHIPPED)}
    result = subprocess.run(
        [sys.executable, "-m", "server", "openapi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    validate(document)
    assert set(document["paths"]) == set(shipped_document()["paths"])


@pytest.mark.parametrize("argv", [["a", "b"]])
def test_the_command_line_refuses_extra_arguments(argv):
    from server.contract.openapi import main

    assert main(argv) == 2
