"""What the registry derives once from an endpoint version's request schema about the values a call
carries (server/contract/schema_registry.py builds each on first use and keeps it with the version):

- `ecma_patterns`: a schema's patterns are ECMA 262 regular expressions, where `$` ends the text. Python's
  `re.search` (jsonschema's) also matches `$` before a final newline, so `"prod\\n"` passed `^[a-z]+$` and was
  stored. The compiled copies of the schemas (jsonschema's and fastjsonschema's) use `\\Z` instead; the schema
  files, and the OpenAPI document made from them, keep `$`.
- `IntegerFields`: where the schema admits integers and no other numbers. JSON Schema counts `3.0` and
  `1e300` as integers, and JSON does not tell `3` from `3.0`, so a whole float there becomes that int, and
  one beyond 64 bits is refused naming its field, before any handler could `int()` it, use it as an index
  or write it half-way through a call.
- `QueryFields`: how the text of a query string (or a form-urlencoded body) is typed: a field that may be a
  string keeps the text sent (`filename=007`, `dataset=20240101`), another is read as a number, boolean or
  JSON, and an undeclared or untyped one by its shape, as it always was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import reduce

# --- patterns -------------------------------------------------------------------------------------------

_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "dependencies")
_SUBSCHEMAS = ("items", "additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then",
               "else")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def ecma_end(pattern: str) -> str:
    """`pattern` with each `$` outside a character class (and not escaped) written `\\Z`."""
    if "$" not in pattern:
        return pattern
    out, at, in_class = [], 0, False
    while at < len(pattern):
        char = pattern[at]
        step = 2 if char == "\\" else 1
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            step += pattern[at + 1:at + 2] == "^"
            step += pattern[at + step:at + step + 1] == "]"  # a ']' first in a class is literal
        elif char == "$":
            out.append(r"\Z")
            at += 1
            continue
        out.append(pattern[at:at + step])
        at += step
    anchored = "".join(out)
    try:
        re.compile(anchored)
    except re.error:  # e.g. a quantified `$`: left as written, for the schema check to judge
        return pattern
    return anchored


def ecma_patterns(schema):
    """`schema` with `ecma_end` applied to every `pattern` and `patternProperties` key, walked by keyword
    (never into `default`, `enum` or `const` values); parts without a pattern are shared, not copied."""
    if isinstance(schema, list):
        changed = [ecma_patterns(item) for item in schema]
        return changed if any(a is not b for a, b in zip(changed, schema, strict=True)) else schema
    if not isinstance(schema, dict):
        return schema
    out = None
    for key, value in schema.items():
        new = value
        if key == "pattern" and isinstance(value, str):
            new = ecma_end(value)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            new = {ecma_end(k) if key == "patternProperties" else k: ecma_patterns(v) for k, v in value.items()}
            if list(new) == list(value) and all(new[k] is value[k] for k in value):
                new = value
        elif key in _SUBSCHEMAS or key in _SCHEMA_LISTS:
            new = ecma_patterns(value)
        if new is not value:
            out = dict(schema) if out is None else out
            out[key] = new
    return schema if out is None else out


def _resolve(node, root: dict, hops: int = 0):
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        hops += 1
        if target is None or hops > 20:
            return {}  # checked at load (schema_registry._check_refs): unconstrained here
        node = target
    return node


def _types(node, root: dict) -> set[str] | None:
    """The JSON types a schema admits (through $ref and anyOf/oneOf), None when it does not say."""
    node = _resolve(node, root)
    if not isinstance(node, dict):
        return None
    declared = node.get("type")
    if declared is not None:
        return {declared} if isinstance(declared, str) else set(declared)
    branches = node.get("anyOf") or node.get("oneOf")
    if isinstance(branches, list) and branches:
        found = [_types(branch, root) for branch in branches]
        return None if any(kinds is None for kinds in found) else set().union(*found)
    return None


# --- integers -------------------------------------------------------------------------------------------

_NO_NUMBERS, _INTEGERS, _ANY_NUMBER = 0, 1, 2
_MAX_DEPTH = 24  # a recursive $ref is left unconstrained below this
_INT64 = (-(2**63), 2**63 - 1)


@dataclass
class _Place:
    """What one place of a request admits, as far as integers go."""

    numbers: int = _ANY_NUMBER
    objects: bool = True
    arrays: bool = True
    props: dict[str, _Place] = field(default_factory=dict)
    patterns: list[tuple[str, _Place]] = field(default_factory=list)
    extra: _Place | None = None  # additionalProperties; None: anything
    items: _Place | None = None  # None: anything


_ANYTHING = _Place()
_NOTHING = _Place(_NO_NUMBERS, False, False)


def _place(node, root: dict, depth: int = 0) -> _Place:
    node = _resolve(node, root)
    if node is False:
        return _NOTHING
    if depth > _MAX_DEPTH or not isinstance(node, dict):
        return _ANYTHING
    declared = node.get("type")
    types = None if declared is None else {declared} if isinstance(declared, str) else set(declared)
    place = _Place(
        numbers=_ANY_NUMBER if types is None or "number" in types else _INTEGERS if "integer" in types else _NO_NUMBERS,
        objects=types is None or "object" in types, arrays=types is None or "array" in types)
    if place.objects:
        place.props = {k: _place(v, root, depth + 1) for k, v in (node.get("properties") or {}).items()}
        place.patterns = [(k, _place(v, root, depth + 1)) for k, v in (node.get("patternProperties") or {}).items()]
        extra = node.get("additionalProperties")
        place.extra = (_place(extra, root, depth + 1) if isinstance(extra, dict)
                       else _NOTHING if extra is False else None)
    if place.arrays and isinstance(node.get("items"), dict):
        place.items = _place(node["items"], root, depth + 1)
    for branch in node.get("allOf") or ():
        place = _all(place, _place(branch, root, depth + 1))
    for key in ("anyOf", "oneOf"):
        if node.get(key):
            place = _all(place, reduce(_any, [_place(branch, root, depth + 1) for branch in node[key]]))
    return place


def _child(place: _Place, key: str) -> _Place:
    found = ([place.props[key]] if key in place.props else []) + [p for k, p in place.patterns if re.search(k, key)]
    return reduce(_all, found) if found else (place.extra or _ANYTHING)


def _all(a: _Place, b: _Place) -> _Place:
    """What both admit (allOf, or a schema's own keywords beside its anyOf)."""
    return _Place(
        min(a.numbers, b.numbers), a.objects and b.objects, a.arrays and b.arrays,
        {k: _all(_child(a, k), _child(b, k)) for k in a.props.keys() | b.props.keys()}, a.patterns + b.patterns,
        b.extra if a.extra is None else a.extra if b.extra is None else _all(a.extra, b.extra),
        b.items if a.items is None else a.items if b.items is None else _all(a.items, b.items))


def _any(a: _Place, b: _Place) -> _Place:
    """What either admits (anyOf, oneOf): a place is integer-only when every branch that admits a number
    there admits integers only. Patterns of the branches are dropped (their keys are left unconverted)."""
    numbers, objects, arrays = max(a.numbers, b.numbers), a.objects or b.objects, a.arrays or b.arrays
    if not (a.objects and b.objects):
        props, patterns, extra = (b.props, b.patterns, b.extra) if b.objects else (a.props, a.patterns, a.extra)
    else:
        props = {k: _any(_child(a, k), _child(b, k)) for k in a.props.keys() | b.props.keys()}
        patterns, extra = [], None if a.extra is None or b.extra is None else _any(a.extra, b.extra)
    if not (a.arrays and b.arrays):
        items = b.items if b.arrays else a.items
    else:
        items = None if a.items is None or b.items is None else _any(a.items, b.items)
    return _Place(numbers, objects, arrays, props, patterns, extra, items)


_CHANGEABLE = (float, dict, list)  # what settling can change; anything else is passed by untouched


class _OutOfRange(Exception):
    def __init__(self):
        self.path: list[str | int] = []  # filled in on the way out, so a call that settles builds no path

    def field(self) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path).lstrip(".") or "(body)"


def _whole(value: float):
    """The int a whole float stands for; a float that is not whole is left for the schema to judge."""
    if not value.is_integer():
        return value
    number = int(value)
    if not _INT64[0] <= number <= _INT64[1]:
        raise _OutOfRange
    return number


class _Node:
    """A place that holds an integer-only place somewhere at or below it."""

    __slots__ = ("whole", "leaves", "props", "declared", "patterns", "extra", "items", "scan")

    def __init__(self, whole, props, declared, patterns, extra, items):
        self.whole, self.declared, self.patterns, self.extra, self.items = whole, declared, patterns, extra, items
        # properties that are integers and nothing else below are settled without a call (page, page_size)
        self.leaves = tuple(k for k, node in props.items() if node.plain())
        self.props = {k: node for k, node in props.items() if not node.plain()}
        # undeclared keys are looked at only where a pattern or additionalProperties holds integers
        self.scan = extra is not None or any(node is not None for _, node in patterns)

    def plain(self) -> bool:
        return self.whole and not self.props and not self.leaves and not self.scan and self.items is None

    def settle(self, value):
        """`value` with whole floats at integer-only places made ints (containers changed in place)."""
        kind = value.__class__
        if kind is float:
            return _whole(value) if self.whole else value
        if kind is dict:
            for key in self.leaves:
                old = value.get(key)
                if old.__class__ is float:
                    try:
                        value[key] = _whole(old)
                    except _OutOfRange as exc:
                        exc.path.insert(0, key)
                        raise
            for key, child in self.props.items():
                old = value.get(key)
                if old.__class__ in _CHANGEABLE:
                    value[key] = child._settle_at(key, old)
            if self.scan:
                for key, old in value.items():
                    if key in self.declared or old.__class__ not in _CHANGEABLE:
                        continue
                    matched = [node for pattern, node in self.patterns if pattern.search(key)]
                    for child in matched or [self.extra]:
                        if child is not None:
                            # an existing key: the dict keeps its size while it is walked
                            value[key] = old = child._settle_at(key, old)
        elif kind is list and self.items is not None:
            for number, old in enumerate(value):
                if old.__class__ in _CHANGEABLE:
                    value[number] = self.items._settle_at(number, old)
        return value

    def _settle_at(self, where: str | int, value):
        try:
            return self.settle(value)
        except _OutOfRange as exc:
            exc.path.insert(0, where)
            raise


def _node(place: _Place | None) -> _Node | None:
    if place is None:
        return None
    props = {k: node for k in place.props if (node := _node(_child(place, k))) is not None}
    # every pattern is kept: a key one matches is not additionalProperties' even when it holds no integer
    patterns = tuple((re.compile(k), _node(p)) for k, p in place.patterns)
    extra, items = _node(place.extra), _node(place.items)
    whole = place.numbers == _INTEGERS
    if not (whole or props or any(node for _, node in patterns) or extra or items):
        return None
    # a key declared by the schema (or matched by a pattern) is never judged by additionalProperties
    return _Node(whole, props, frozenset(place.props), patterns, extra, items)


@dataclass(frozen=True)
class IntegerFields:
    """The integer-only places of one request schema; `settle(data)` converts in place and answers what is
    wrong (the field named), or None. A schema without such places settles nothing, at no cost."""

    root: _Node | None

    @classmethod
    def of(cls, schema: dict) -> IntegerFields:
        return cls(_node(_place(schema, schema)))

    def settle(self, data) -> str | None:
        if self.root is None:
            return None
        try:
            self.root.settle(data)
        except _OutOfRange as exc:
            return f"error for field '{exc.field()}'. integers must fit in 64 bits"
        return None


# --- query strings --------------------------------------------------------------------------------------

TEXT, VALUE = "text", "value"  # kept as sent; read as a number, boolean or JSON (else by shape: None)


def _kind(node, root: dict) -> str | None:
    node = _resolve(node, root)
    types = _types(node, root)
    if types is None:
        return None
    if "string" in types:
        return TEXT
    if "array" in types and isinstance(node, dict) and "string" in (_types(node.get("items"), root) or ()):
        return TEXT  # each repeated value is one item
    return VALUE


@dataclass(frozen=True)
class QueryFields:
    """The kind of each declared request property, and of the properties of those that are objects
    (`a.b=x` nests into an object property `a`)."""

    kinds: dict[str, str | None] = field(default_factory=dict)
    objects: dict[str, dict[str, str | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, schema: dict) -> QueryFields:
        properties = schema.get("properties") or {}
        kinds = {name: _kind(sub, schema) for name, sub in properties.items()}
        objects = {}
        for name, sub in properties.items():
            resolved = _resolve(sub, schema)
            if _types(resolved, schema) == {"object"}:
                objects[name] = {k: _kind(v, schema) for k, v in (resolved.get("properties") or {}).items()}
        return cls(kinds, objects)

    def kind(self, key: str, within: str | None = None) -> str | None:
        return (self.kinds if within is None else self.objects.get(within, {})).get(key)


NO_QUERY_FIELDS = QueryFields()
