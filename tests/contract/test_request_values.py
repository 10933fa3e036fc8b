"""server/contract/request_values.py: what the registry derives from a request schema once per endpoint
version: patterns ending where ECMA 262 ends them, the places where only integers go, and how query text
is typed. The dispatcher side is in tests/security/test_request_values.py."""

from __future__ import annotations

import pytest

from server.contract.request_values import TEXT, VALUE, IntegerFields, QueryFields, ecma_end

DEFINITIONS = {"count": {"type": "integer"}, "name": {"type": "string"}}


@pytest.mark.parametrize("pattern, expected", [
    ("^[a-z]+$", r"^[a-z]+\Z"),
    ("^(a$|b$)", r"^(a\Z|b\Z)"),
    (r"^a\$$", r"^a\$\Z"),  # an escaped dollar is a dollar sign
    ("^[$]x$", r"^[$]x\Z"),  # in a class too
    ("^[]$]$", r"^[]$]\Z"),  # a ']' first in a class does not end it
    ("^[^]$]$", r"^[^]$]\Z"),
    ("^abc", "^abc"),
])
def test_a_dollar_ends_the_text(pattern, expected):
    assert ecma_end(pattern) == expected


def _patterns(node, found: list) -> list:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.append(value)
            elif key == "patternProperties" and isinstance(value, dict):
                found.extend(value)
            if key not in ("default", "enum", "const", "examples"):
                _patterns(value, found)
    elif isinstance(node, list):
        for item in node:
            _patterns(item, found)
    return found


def test_every_compiled_pattern_ends_where_ecma_ends_it_and_the_schema_files_keep_theirs(registry):
    compiled = [p for versions in registry.endpoints.values() for v in versions
                for validator in (v.validator, v.response_validator, v.line_validator) if validator is not None
                for p in _patterns(validator.schema, [])]
    assert any(p.endswith(r"\Z") for p in compiled)
    assert [p for p in compiled if ecma_end(p) != p] == []
    alias = registry.resolve("models.set_alias", (2, 99))
    assert alias.request_schema["properties"]["alias"]["pattern"].endswith("$")  # what OpenAPI shows
    for check in (alias.fast_check, alias.validator.validate):
        with pytest.raises(Exception, match="does not match|must match"):
            check({"model": "m", "alias": "prod\n"})


def settled(schema: dict, data: dict) -> tuple[dict, str | None]:
    problem = IntegerFields.of({**schema, "definitions": DEFINITIONS}).settle(data)
    return data, problem


def test_a_whole_float_becomes_an_int_only_where_nothing_but_integers_go():
    schema = {"type": "object", "properties": {
        "n": {"type": "integer"}, "maybe": {"type": ["integer", "null"]}, "x": {"type": "number"},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "loose": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
        "ref": {"$ref": "#/definitions/count"}, "free": {},
        "list": {"type": "array", "items": {"type": "integer"}},
        "nested": {"type": "object", "properties": {"deep": {"type": "integer"}}, "additionalProperties": {
            "type": "integer"}},
        "grid": {"allOf": [{"type": "array"}, {"items": {"type": "array", "items": {"type": "integer"}}}]},
    }, "patternProperties": {"^n_": {"type": "integer"}}}
    data, problem = settled(schema, {
        "n": 1.0, "maybe": 2.0, "x": 3.0, "either": 4.0, "loose": 5.0, "ref": 6.0, "free": 7.0, "list": [8.0, 9.5],
        "nested": {"deep": 10.0, "other": 11.0}, "grid": [[12.0]], "n_1": 13.0, "m_1": 14.0})
    assert problem is None
    ints = {k for k, v in data.items() if isinstance(v, int)}
    assert ints == {"n", "maybe", "either", "ref", "n_1"}
    assert data["list"] == [8, 9.5] and isinstance(data["list"][0], int) and isinstance(data["list"][1], float)
    assert all(isinstance(v, int) for v in data["nested"].values()) and isinstance(data["grid"][0][0], int)
    assert all(isinstance(data[k], float) for k in ("x", "loose", "free", "m_1"))


@pytest.mark.parametrize("data, field", [
    ({"n": 1e300}, "n"), ({"n": 2.0**63}, "n"), ({"n": -1e19}, "n"), ({"list": [1.0, 9.3e18]}, "list[1]"),
    ({"nested": {"deep": 1e20}}, "nested.deep"),
])
def test_a_whole_float_beyond_64_bits_is_named(data, field):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "list": {
        "type": "array", "items": {"type": "integer"}}, "nested": {"properties": {"deep": {"type": "integer"}}}}}
    assert settled(schema, data)[1] == f"error for field '{field}'. integers must fit in 64 bits"


def test_the_edges_of_64_bits_are_kept():
    data, problem = settled({"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
                            {"a": -(2.0**63), "b": 2.0**62})
    assert problem is None and data == {"a": -(2**63), "b": 2**62}


def test_a_schema_without_integers_settles_nothing_and_a_recursive_one_is_safe():
    assert IntegerFields.of({"type": "object", "properties": {"a": {"type": "string"}}}).root is None
    recursive = {"definitions": {"node": {"type": "object", "properties": {
        "n": {"type": "integer"}, "child": {"$ref": "#/definitions/node"}}}}, "$ref": "#/definitions/node"}
    data = {"n": 1.0, "child": {"n": 2.0, "child": {"n": 3.0}}}
    assert IntegerFields.of(recursive).settle(data) is None and data == {"n": 1, "child": {"n": 2, "child": {"n": 3}}}


def test_query_text_is_typed_by_the_declared_type():
    schema = {"type": "object", "definitions": DEFINITIONS, "properties": {
        "name": {"type": "string"}, "dataset": {"type": ["string", "null"]}, "page": {"type": "integer"},
        "ids": {"type": "array", "items": {"type": "string"}}, "ref": {"$ref": "#/definitions/name"},
        "flag": {"type": "boolean"}, "free": {}, "filter": {"type": "object", "properties": {
            "name": {"type": "string"}, "size": {"type": "integer"}}}}}
    fields = QueryFields.of(schema)
    assert {k: fields.kind(k) for k in ("name", "dataset", "page", "ids", "ref", "flag", "free", "undeclared")} == {
        "name": TEXT, "dataset": TEXT, "page": VALUE, "ids": TEXT, "ref": TEXT, "flag": VALUE, "free": None,
        "undeclared": None}
    assert set(fields.objects) == {"filter"}
    assert (fields.kind("name", "filter"), fields.kind("size", "filter")) == (TEXT, VALUE)
