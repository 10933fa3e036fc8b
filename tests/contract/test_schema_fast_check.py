"""The compiled request check (EndpointVersion.fast_check, fastjsonschema) never passes a request that
jsonschema, the judge, refuses, and fills the same defaults; over every endpoint version of the schema
files, with each property given a value of every JSON type."""

from __future__ import annotations

import copy

from jsonschema.exceptions import best_match

from server.http.dispatcher import validation_problem

ITEM = {"key": "k", "type": "t", "value": "v"}
VALUES = ["text", "", "-archived", 0, 1, -1, 2**40, 1.5, 1.0, True, False, None, [], ["a"], ["a", None], [1], [1.5],
          [[1, 2]], [{}], [ITEM], {}, {"a": 1}, ITEM, {"include": ["a"]}, {"any": {"include": ["a"]}, "op": "or"}]
PLAUSIBLE = {"string": "x", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}, "null": None}


def _resolved(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema if isinstance(schema, dict) else {}


def _bodies(schema: dict):
    """{}; the required properties with plausible values; then each property set to each value (and to
    its enum's values), on both."""
    properties = {name: _resolved(sub, schema) for name, sub in (schema.get("properties") or {}).items()}
    base = {}
    for name in schema.get("required") or []:
        kind = properties.get(name, {}).get("type", "string")
        base[name] = PLAUSIBLE.get(kind if isinstance(kind, str) else kind[0], "x")
    yield {}
    yield base
    for name, sub in properties.items():
        for value in VALUES + list(sub.get("enum") or []):
            yield {name: value}
            yield {**base, name: value}


def test_the_compiled_check_never_passes_what_jsonschema_refuses_and_fills_the_same_defaults(registry):
    checked = compiled = 0
    for name, versions in registry.endpoints.items():
        for endpoint in versions:
            if endpoint.fast_check is None:
                continue
            compiled += 1
            for body in _bodies(_resolved(endpoint.validator.schema, endpoint.validator.schema)):
                fast_body, slow_body = copy.deepcopy(body), copy.deepcopy(body)
                try:
                    endpoint.fast_check(fast_body)
                except Exception:  # noqa: BLE001 - refused: jsonschema decides, nothing to compare
                    continue
                error = best_match(endpoint.validator.iter_errors(slow_body))
                assert error is None, f"{name} {endpoint.version}: compiled check passed {body!r}: {error.message}"
                assert fast_body == slow_body, f"{name} {endpoint.version}: defaults differ for {body!r}"
                checked += 1
    assert compiled == sum(len(v) for v in registry.endpoints.values()), "a request schema did not compile"
    assert checked > 1000


def test_a_refused_request_is_worded_by_jsonschema_and_defaults_are_filled(registry):
    get_by_id = registry.resolve("models.get_by_id", (2, 13))
    assert validation_problem(get_by_id, {"model": 5}) == "error for field 'model'. 5 is not of type 'string'"
    assert validation_problem(get_by_id, {}) == "error for field 'model'. field is required!"
    assert validation_problem(get_by_id, {"model": "m"}) is None
    get_all = registry.resolve("models.get_all", (2, 13))
    body: dict = {}
    jsonschema_body: dict = {}
    assert validation_problem(get_all, body) is None
    best_match(get_all.validator.iter_errors(jsonschema_body))
    assert body == jsonschema_body
