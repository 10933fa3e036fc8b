"""JSON Schemas sent by users (a model card's signature today): the one guard every feature that stores
such a schema and validates data against it goes through.

`check` runs when a schema is written and again before it is used (so a schema stored before this guard
existed, or written straight into the database, gets the same answer):
- bounded size (compact JSON bytes) and depth (nesting of objects and arrays), from `user_schemas.*`;
- `$ref`, `$dynamicRef` and `$recursiveRef` only inside the document (`#...`); `$id` only at the root or
  as a plain-name anchor (`#name`), so no reference can reach another document; `$schema` one of the
  dialects draft-06, draft-07, 2019-09 and 2020-12;
- every `pattern` and every `patternProperties` key vetted by database.patterns.vet_pattern (the query
  engine's check), anywhere in the document, since a local `$ref` may point anywhere in it;
- `unevaluatedProperties` refused in a schema that has `patternProperties`: jsonschema evaluates those
  patterns there with Python's `re`, out of reach of the time-bounded matcher;
- then the schema is checked against its dialect's meta-schema.
`format` stays an annotation (no format checker runs on data), so `format: regex` values are never compiled.

`validate` runs jsonschema with a registry that retrieves nothing (no network, no files), with `pattern`,
`patternProperties` and `additionalProperties` matching through database.user_regex, and with every
keyword checking one deadline (`user_schemas.validate_sec`), so neither a slow pattern nor a schema whose
local references fan out exponentially holds a worker: both are a 400 naming the field.
"""

from __future__ import annotations

import contextvars
import functools
import json
import time
import urllib.parse
from dataclasses import dataclass

import jsonschema
import referencing
import referencing.exceptions
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as Violation

from database.errors import PatternError
from database.query import user_regex
from database.query.patterns import vet_pattern
from services import errors

DIALECTS = {
    c.META_SCHEMA["$id"].rstrip("#"): c
    for c in (jsonschema.Draft6Validator, jsonschema.Draft7Validator, jsonschema.Draft201909Validator,
              jsonschema.Draft202012Validator)
}
DEFAULT_DIALECT = jsonschema.Draft202012Validator
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
MAX_MESSAGE = 500  # characters of one violation's message (it quotes the offending value)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 32768
    max_depth: int = 64
    validate_sec: float = 1.0


def limits_from(config) -> Limits:
    base = Limits()
    if config is None:
        return base

    def get(key, default):
        value = config.get(f"user_schemas.{key}", None)
        return default if value is None else value

    return Limits(max_bytes=int(get("max_bytes", base.max_bytes)), max_depth=int(get("max_depth", base.max_depth)),
                  validate_sec=float(get("validate_sec", base.validate_sec)))


# --- the check, at write time and before use -----------------------------------------------------


def _refuse(reason: str, field: str, path=(), **extra):
    raise errors.ValidationError(reason, field=field, **({"at": "/".join(map(str, path))} if path else {}), **extra)


def _vet(pattern, field: str, path) -> None:
    try:
        vet_pattern(pattern, field)  # compiled by the matcher when first used
    except PatternError as exc:
        raise errors.InvalidRegex(exc.extra, field=field, at="/".join(map(str, path)), pattern=pattern) from None


def _walk(schema, field: str, limits: Limits) -> None:
    """Depth, references, identifiers, dialect and patterns, over every object of the document."""
    stack = [(schema, (), 1)]
    pattern_properties = unevaluated = None
    while stack:
        node, path, depth = stack.pop()
        if depth > limits.max_depth:
            _refuse(f"nested deeper than {limits.max_depth} levels", field, path)
        if isinstance(node, list):
            stack.extend((item, (*path, i), depth + 1) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        for key in REFERENCE_KEYWORDS:
            ref = node.get(key)
            if isinstance(ref, str) and not ref.startswith("#"):
                _refuse("only references inside the schema (#...) are allowed", field, (*path, key), ref=ref)
        ident = node.get("$id")
        if isinstance(ident, str) and path and not ident.startswith("#"):
            _refuse("$id is allowed only at the root of the schema", field, (*path, "$id"))
        dialect = node.get("$schema")
        if isinstance(dialect, str) and dialect.rstrip("#") not in DIALECTS:
            _refuse("unsupported $schema (draft-06, draft-07, 2019-09 or 2020-12)", field, (*path, "$schema"))
        if isinstance(node.get("pattern"), str):
            _vet(node["pattern"], field, (*path, "pattern"))
        if isinstance(node.get("patternProperties"), dict):
            pattern_properties = (*path, "patternProperties")
            for key in node["patternProperties"]:
                _vet(key, field, pattern_properties)
        if "unevaluatedProperties" in node:
            unevaluated = (*path, "unevaluatedProperties")
        stack.extend((value, (*path, key), depth + 1) for key, value in node.items())
    if pattern_properties is not None and unevaluated is not None:
        _refuse("unevaluatedProperties cannot be combined with patternProperties", field, unevaluated)


def _dialect(schema):
    dialect = schema.get("$schema") if isinstance(schema, dict) else None
    return DIALECTS.get(dialect.rstrip("#"), DEFAULT_DIALECT) if isinstance(dialect, str) else DEFAULT_DIALECT


def check(schema, field: str, limits: Limits) -> str:
    """The schema's stored form (compact JSON text) when it passes the guard; 400 naming `field` otherwise."""
    if not isinstance(schema, (dict, bool)):
        _refuse("must be a JSON Schema object", field)
    try:
        text = json.dumps(schema, separators=(",", ":"))
    except (RecursionError, ValueError):
        _refuse(f"nested deeper than {limits.max_depth} levels", field)
    if len(text.encode()) > limits.max_bytes:  # first: the walk vets every pattern
        _refuse(f"larger than {limits.max_bytes} bytes as JSON", field)
    _walk(schema, field, limits)  # before the meta-schema check: it bounds the depth that one recurses to
    try:
        _dialect(schema).check_schema(schema)
    except SchemaError as exc:
        _refuse(f"not a valid JSON Schema ({exc.message[:MAX_MESSAGE]})", field, exc.path)
    if _refers_to_itself_in_place(schema):
        _refuse("the schema refers to itself without descending into the data (e.g. {\"not\": {\"$ref\": "
                "\"#\"}}), so validating anything against it never ends", field)
    return text


# keywords whose subschemas apply to the same instance: a loop of them never reaches the end of the data
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_MAPS = ("dependentSchemas", "dependencies")


def _refers_to_itself_in_place(schema) -> bool:
    """Whether following references and the keywords that apply to the same instance (`_IN_PLACE_*`) leads
    from some subschema back to itself. Such a loop recurses until the interpreter gives up, and the
    reference resolver (a native extension) then fails in a way that takes the worker process down.
    Loops through `properties`, `items` and the like are fine: each turn goes one level into the data,
    which is finite (a tree schema)."""
    anchors: dict[str, dict] = {}
    stack = [schema]
    while stack:  # plain-name anchors, for references such as "#node"
        node = stack.pop()
        if isinstance(node, dict):
            for key in ("$anchor", "$dynamicAnchor"):
                if isinstance(node.get(key), str):
                    anchors[node[key]] = node
            if isinstance(node.get("$id"), str) and node["$id"].startswith("#"):
                anchors[node["$id"][1:]] = node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)

    def resolve(ref: str):
        if ref in ("#", ""):
            return schema
        if not ref.startswith("#/"):
            return anchors.get(ref[1:])
        node = schema
        for part in ref[2:].split("/"):
            part = urllib.parse.unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return None  # unresolvable: validation reports it
        return node

    def in_place(node: dict) -> list:
        found = [node.get(k) for k in _IN_PLACE_ONE]
        found += [item for k in _IN_PLACE_LISTS if isinstance(node.get(k), list) for item in node[k]]
        found += [value for k in _IN_PLACE_MAPS if isinstance(node.get(k), dict) for value in node[k].values()]
        found += [resolve(node[k]) for k in REFERENCE_KEYWORDS if isinstance(node.get(k), str)]
        return [child for child in found if isinstance(child, dict)]

    state: dict[int, int] = {}  # id of a subschema -> 1 while on the walk's path, 2 once done
    every = [schema]
    while every:  # every subschema is a possible start
        node = every.pop()
        if isinstance(node, list):
            every.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        every.extend(node.values())
        if id(node) in state:
            continue
        path = [(node, iter(in_place(node)))]
        state[id(node)] = 1
        while path:
            current, children = path[-1]
            child = next(children, None)
            if child is None:
                state[id(current)] = 2
                path.pop()
            elif state.get(id(child)) == 1:
                return True
            elif id(child) not in state:
                state[id(child)] = 1
                path.append((child, iter(in_place(child))))
    return False


@functools.lru_cache(maxsize=256)
def _checked(text: str, field: str, limits: Limits):
    """The schema of stored `text`, checked (cached: a stored schema is checked once per process; a refused
    one raises and is not cached)."""
    if len(text.encode()) > limits.max_bytes:
        _refuse(f"the stored schema is larger than {limits.max_bytes} bytes", field)
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError):
        _refuse("the stored schema is not JSON", field)
    check(schema, field, limits)
    return schema


# --- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    field: str
    deadline: float
    seconds: float


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("user_schema_budget", default=None)


def _time_left() -> float:
    budget = _budget.get()
    if budget is None:
        return Limits.validate_sec
    left = budget.deadline - time.monotonic()
    if left <= 0:
        raise errors.ValidationError(f"validating against the schema took longer than {budget.seconds:g} s",
                                     field=budget.field)
    return left


def _search(pattern: str, subject: str) -> bool:
    budget = _budget.get()
    return user_regex.search(pattern, subject, field=budget.field if budget else "pattern", timeout=_time_left())


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield Violation(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator, additional, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = [k for k in instance if k not in properties and not any(_search(p, k) for p in patterns)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif additional is False and extras:
        names = ", ".join(repr(e) for e in sorted(extras, key=str))
        if patterns:
            yield Violation(f"{names} not matching any of the patterns {', '.join(map(repr, sorted(patterns)))}")
        else:
            yield Violation(f"Additional properties are not allowed ({names} unexpected)")


def _timed(keyword):
    """`keyword` checking the deadline first: local references can make the work grow exponentially with
    the schema's size, so time, not size, bounds it."""
    def run(validator, value, instance, schema):
        _time_left()
        found = keyword(validator, value, instance, schema)
        if found:
            yield from found
    return run


@functools.cache
def _guarded(dialect):
    replaced = {"pattern": _pattern, "patternProperties": _pattern_properties,
                "additionalProperties": _additional_properties}
    keywords = {k: _timed(replaced.get(k, fn)) for k, fn in dialect.VALIDATORS.items()}
    return jsonschema.validators.extend(dialect, keywords)


def _retrieve_nothing(uri: str):
    raise referencing.exceptions.NoSuchResource(ref=uri)


NO_RETRIEVAL = referencing.Registry(retrieve=_retrieve_nothing)


def validate(stored, instance, *, field: str, limits: Limits, max_errors: int) -> list[dict]:
    """The violations of `instance` against a stored schema (JSON text, or the object a direct database
    write left), each {path, message}, at most `max_errors`; 400 naming `field` when the schema does not
    pass the guard, refers outside itself, or validation runs out of time."""
    text = stored if isinstance(stored, str) else check(stored, field, limits)
    schema = _checked(text, field, limits)
    validator = _guarded(_dialect(schema))(schema, registry=NO_RETRIEVAL)
    token = _budget.set(_Budget(field, time.monotonic() + limits.validate_sec, limits.validate_sec))
    found = []
    try:
        for error in validator.iter_errors(instance):
            found.append({"path": "/".join(str(p) for p in error.absolute_path),
                          "message": error.message[:MAX_MESSAGE]})
            if len(found) >= max_errors:
                break
    except referencing.exceptions.Unresolvable as exc:
        raise errors.ValidationError("a reference of the schema cannot be resolved", field=field,
                                     ref=str(getattr(exc, "ref", ""))[:MAX_MESSAGE]) from None
    except RecursionError:
        raise errors.ValidationError("validation recursed too deeply (a schema that refers to itself without "
                                     "end, or data nested too deeply for it)", field=field) from None
    except BaseException as exc:
        # The reference resolver (rpds, a native extension) turns a RecursionError inside it into pyo3's
        # PanicException, a BaseException that would end the worker process. `check` refuses the schemas
        # known to get there; this keeps any other from taking the worker down.
        if type(exc).__name__ != "PanicException":
            raise
        raise errors.ValidationError("validation recursed too deeply", field=field) from None
    finally:
        _budget.reset(token)
    return found
