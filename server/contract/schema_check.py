"""`python -m server schema check [DIR]`: loads a schema folder as the server would and lists every problem.

Besides what the loader refuses (HOCON syntax, unresolved substitutions and `$ref`s, invalid JSON
Schema, version keys that are not `major.minor`), it reports endpoint versions that no handler serves,
response schemas that are not objects (the envelope's `data` is always one), and `default`/`examples`
values that break the schema they sit in: a request default that fails its own schema turns every
call that leaves the field out into a 400, and a response example that fails documents a result the
handler must never give.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft7Validator

from server.contract.schema_registry import EndpointVersion, SchemaProblem, SchemaRegistry, Service, load_schemas

# where subschemas sit (Draft 7): the walk for defaults and examples follows only these keywords
SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions", "dependencies"})
SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "items"})
SCHEMA_VALUES = frozenset(
    {"items", "additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else"}
)


@dataclass
class CheckResult:
    registry: SchemaRegistry | None  # None when the folder could not be loaded at all
    problems: list[SchemaProblem]

    @property
    def ok(self) -> bool:
        return self.registry is not None and not self.problems

    def summary(self) -> str:
        registry = self.registry
        services = len(registry.services) if registry else 0
        endpoints = len(registry.endpoints) if registry else 0
        versions = sum(len(vs) for vs in registry.endpoints.values()) if registry else 0
        outcome = "OK" if self.ok else f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        return f"{services} services, {endpoints} endpoints, {versions} versions: {outcome}"


def check_directory(directory: str | Path, handler_names: Iterable[str] | None = None) -> CheckResult:
    """Every problem of the folder. `handler_names` defaults to the handlers the services package registers."""
    if handler_names is None:
        from services.handlers import all_handlers

        handler_names = all_handlers().keys()
    registry, problems = load_schemas(directory, partial=True)
    problems = list(problems)
    if registry is not None:
        named = {p.endpoint for p in problems}  # an endpoint that failed to load is reported once
        problems.extend(p for p in registry.handler_problems(handler_names) if p.endpoint not in named)
        for _name, versions in sorted(registry.endpoints.items()):
            for endpoint in versions:
                problems.extend(_version_problems(endpoint))
        for service in registry.services.values():
            problems.extend(_definition_problems(service))
    return CheckResult(registry, problems)


def _problem(endpoint: EndpointVersion, message: str) -> SchemaProblem:
    return SchemaProblem(endpoint.file, endpoint.name, endpoint.version_text, message)


def _version_problems(endpoint: EndpointVersion) -> Iterator[SchemaProblem]:
    response = _resolve(endpoint.response_schema, endpoint.definitions)
    if response.get("type") != "object":
        kind = response.get("type", "no type")
        yield _problem(endpoint, f"response schema must be type: object (the reply's data is an object), not {kind}")
    request_part = "batch_request" if endpoint.batch else "request"
    for part, schema in ((request_part, endpoint.request_schema), ("response", endpoint.response_schema)):
        definitions = {**endpoint.definitions, **schema.get("definitions", {})}
        for location, keyword, value, node in _values_in(schema):
            message = _first_error(value, node, definitions)
            if message:
                yield _problem(endpoint, f"{part} {keyword} at {location or '(root)'} breaks its own schema: {message}")


def _definition_problems(service: Service) -> Iterator[SchemaProblem]:
    for name, schema in sorted(service.definitions.items()):
        for location, keyword, value, node in _values_in(schema):
            message = _first_error(value, node, service.definitions)
            if message:
                where = f"_definitions/{name}{'/' + location if location else ''}"
                yield SchemaProblem(service.file, "", "", f"{keyword} at {where} breaks its own schema: {message}")


def _resolve(schema: dict, definitions: dict, depth: int = 0) -> dict:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/") and depth < 20:
        target = {**definitions, **schema.get("definitions", {})}.get(ref.rsplit("/", 1)[1])
        if isinstance(target, dict):
            return _resolve(target, definitions, depth + 1)
    return schema


def _values_in(schema, path: tuple = ()) -> Iterator[tuple[str, str, object, dict]]:
    """(location, keyword, value, the schema it must satisfy) for each `default` and `examples` item."""
    if not isinstance(schema, dict):
        return
    location = "/".join(str(p) for p in path)
    if "default" in schema:
        yield location, "default", schema["default"], schema
    if isinstance(schema.get("examples"), list):
        for number, example in enumerate(schema["examples"]):
            yield location, f"example {number}", example, schema
    for key, value in schema.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            for name, subschema in value.items():
                yield from _values_in(subschema, path + (key, name))
        elif key in SCHEMA_LISTS and isinstance(value, list):
            for number, subschema in enumerate(value):
                yield from _values_in(subschema, path + (key, number))
        elif key in SCHEMA_VALUES:
            yield from _values_in(value, path + (key,))


def _first_error(value, schema: dict, definitions: dict) -> str | None:
    checked = {k: v for k, v in schema.items() if k not in ("default", "examples")}
    validator = Draft7Validator({**checked, "definitions": definitions})
    error = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}{f' (at {where})' if where else ''}"


def default_directory() -> Path:
    from server.config import load_config, schema_dir

    return schema_dir(load_config())


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]) or len(argv) > 1:
        print("usage: python -m server schema check [DIR]  (DIR defaults to server.schema_dir)")
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    directory = Path(argv[0]) if argv else default_directory()
    result = check_directory(directory)
    for problem in result.problems:
        print(problem)
    if result.ok:
        print(result.summary())
        return 0
    print(f"{directory}: {result.summary()}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
