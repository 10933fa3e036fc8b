"""A schema of the schema folder compiled into its checks: the meta-schema check of a schema, the
jsonschema validator (which also fills in defaults) with its $refs resolved against the service's
definitions, and the fastjsonschema check that passes a valid request sooner. The registry
(server/contract/schema_registry.py) compiles each schema of an endpoint version here once."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import SchemaError

from server.contract.request_values import ecma_patterns


@dataclass(frozen=True)
class SchemaProblem:
    file: str
    endpoint: str
    version: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.endpoint or '-'}:{self.version or '-'}: {self.message}"


def _with_defaults(validator_class):
    """A validator class that also fills in `default` values of absent properties."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in props.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, props, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


FillingValidator = _with_defaults(Draft7Validator)


@functools.cache
def _meta_check() -> Callable[[Any], Any]:
    """Draft 7's meta-schema compiled to Python: checking ~500 schemas with jsonschema's own
    `check_schema` was most of a schema load once the files' parse is cached."""
    return fastjsonschema.compile(FillingValidator.META_SCHEMA, use_default=False)  # never write into a schema


def schema_error(schema: dict, where: tuple[str, str, str], problems: list) -> bool:
    try:
        _meta_check()(schema)
        return False
    except (fastjsonschema.JsonSchemaException, re.error, ValueError, TypeError):
        pass  # jsonschema decides, and words the problem
    try:
        FillingValidator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        problems.append(SchemaProblem(*where, f"invalid JSON Schema at {path}: {exc.message}"))
        return True
    return False


def compile_schema(schema: dict, definitions: dict, where: tuple[str, str, str], problems: list) -> Any:
    # The service's definitions were checked once in _load_service; checking them again with every
    # request and response schema made loading ten times slower.
    if schema_error(schema, where, problems):
        return None
    # patterns end where ECMA 262 ends them (request_values.ecma_end), in the compiled copy only
    schema = ecma_patterns(schema)
    full = {**schema, "definitions": {**definitions, **schema.get("definitions", {})}}
    validator = FillingValidator(full)
    try:  # unresolvable $refs only show when used: walk the schema once for them
        _check_refs(full, full, where, problems)
    except RecursionError:
        problems.append(SchemaProblem(*where, "recursive $ref"))
    return validator


def _check_refs(node: Any, root: dict, where, problems, depth: int = 0) -> None:
    if depth > 50:
        raise RecursionError
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = root
            if not ref.startswith("#/"):
                problems.append(SchemaProblem(*where, f"unsupported $ref {ref!r} (only #/definitions/...)"))
                return
            for part in ref[2:].split("/"):
                if not isinstance(target, dict) or part not in target:
                    problems.append(SchemaProblem(*where, f"unresolved $ref {ref!r}"))
                    return
                target = target[part]
        for key, value in node.items():
            if key != "definitions":
                _check_refs(value, root, where, problems, depth + 1)
    elif isinstance(node, list):
        for item in node:
            _check_refs(item, root, where, problems, depth + 1)


def fast_check(validator) -> Callable[[Any], Any] | None:
    if validator is None:
        return None
    try:
        return fastjsonschema.compile(validator.schema, use_default=True, use_formats=False)
    except (fastjsonschema.JsonSchemaDefinitionException, re.error, ValueError, TypeError, RecursionError):
        return None  # a schema it cannot compile is validated by jsonschema alone
