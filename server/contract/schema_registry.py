"""Loads the HOCON schema files into a table of endpoint versions with compiled validators.

Layout of `schema/services/` (ClearML style):
- `<service>.conf`: one service. `_*.conf` files are shared includes, not services.
- `_api_defaults.conf`: defaults for every endpoint (`internal`, `authorize`, `allow_roles`).
- In a service file: `_description`, `_definitions` (reachable as `$ref: "#/definitions/x"`), `_default`
  (service-wide defaults), `_references` (ignored), then one block per endpoint. An endpoint block holds
  flags (`internal`, `authorize`, `allow_roles`, `description`) and one block per version ("2.13"),
  each with `request` (or `batch_request`, the schema of one JSON-lines item), `response`, and flags.
  Our extensions: `raw_body: true` (the request body is a file, parameters come in the query string),
  `stream_response: true` (the handler returns bytes, `response` documents the headers only),
  `form_body: true` (a JSON body, or a multipart/form-data body whose fields before its `file` part are
  the request and whose `file` part streams to the handler), `stream_formats: [ndjson]` (with
  `Accept: application/x-ndjson` the handler streams one JSON object a line instead of the envelope),
  `transfer: true` (the call moves bytes at a pace set outside the server, e.g. an outbound fetch: it
  takes a transfer slot like uploads and downloads do, see server/http/backpressure.py).
  A `raw_body` version may declare `line_request`, the schema of one line of a JSON-lines body (or one
  item of a JSON list): the handler then receives the body as checked lines, each passed or refused on
  its own (server/http/request_data.py `json_lines`), read as the client sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pyhocon.exceptions import ConfigException

from server import hocon_cache
from server.contract.compiling import SchemaProblem, compile_schema, fast_check, schema_error
from server.contract.request_values import NO_QUERY_FIELDS, IntegerFields, QueryFields, ecma_patterns
from services.call import EXTENSIONS_FROM, Version, format_version, parse_version
from services.identity.roles import READ_ONLY_ROLES

ENDPOINT_FLAGS = ("internal", "authorize", "allow_roles", "description", "raw_body", "stream_response", "form_body",
                  "stream_formats", "transfer")
# ClearML serves an endpoint from the version its handler registers (1.0 unless the handler says
# otherwise), whatever versions its schema declares; a request between that and the first schema
# version gets the first one. An endpoint block may name ClearML's registration in `min_version`;
# without it a ClearML endpoint is served from 1.0 and an extension (2.99+) from its first version.
MIN_VERSION_KEY = "min_version"
CLEARML_FLOOR: Version = (1, 0)
VERSION_PARTS = ("request", "batch_request", "line_request", "response") + ENDPOINT_FLAGS
BUILTIN_DEFAULTS = {"internal": False, "authorize": True, "allow_roles": ["*"]}


class SchemaLoadError(Exception):
    def __init__(self, problems: list[SchemaProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class EndpointVersion:
    name: str  # "models.get_all"
    version: Version
    file: str
    description: str
    request_schema: dict
    response_schema: dict
    definitions: dict
    authorize: bool | None
    allow_roles: list[str]
    internal: bool
    raw_body: bool = False
    stream_response: bool = False
    form_body: bool = False
    stream_formats: tuple[str, ...] = ()
    transfer: bool = False  # counted as a transfer although neither body nor reply is a file
    batch: bool = False
    validator: Any = field(default=None, repr=False)
    response_validator: Any = field(default=None, repr=False)
    line_validator: Any = field(default=None, repr=False)  # one line of a JSON-lines raw body

    @cached_property
    def fast_check(self) -> Callable[[Any], Any] | None:
        """The request schema compiled to Python by fastjsonschema, defaults filled as `validator` fills
        them; built on first use. It passes a valid request ~10-25x sooner than jsonschema (9 against
        0.8 us for get_by_id, 84 against 4 us for a get_all page). jsonschema stays the judge: what this
        refuses is validated again by `validator`, which words the error and accepts what this is
        stricter about (tests/contract/test_schema_fast_check.py holds the two to that over every schema)."""
        return fast_check(self.validator)

    @cached_property
    def line_check(self) -> Callable[[Any], Any] | None:
        """`line_request` compiled as `fast_check` compiles `request` (None without one, or when it cannot be)."""
        return fast_check(self.line_validator)

    @cached_property
    def integers(self) -> IntegerFields:
        """The request's integer-only places (request_values.IntegerFields), settled before validation."""
        return IntegerFields.of(self.validator.schema if self.validator is not None else {})

    @cached_property
    def line_integers(self) -> IntegerFields:
        return IntegerFields.of(self.line_validator.schema if self.line_validator is not None else {})

    @cached_property
    def query_fields(self) -> QueryFields:
        """How query-string text is typed (request_values.QueryFields); a batch's query string by its shape."""
        if self.batch or self.validator is None:
            return NO_QUERY_FIELDS
        return QueryFields.of(self.validator.schema)

    @property
    def version_text(self) -> str:
        return format_version(self.version)

    def role_allowed(self, role: str) -> bool:
        return "*" in self.allow_roles or role in self.allow_roles

    @cached_property
    def writes(self) -> bool:
        """Whether the endpoint may change something: its roles leave out the read-only ones (the same rule
        the change log's test of every writing endpoint goes by)."""
        return not any(self.role_allowed(role) for role in READ_ONLY_ROLES)


@dataclass
class Service:
    name: str
    file: str
    description: str
    definitions: dict


class SchemaRegistry:
    def __init__(self, services: dict[str, Service], endpoints: dict[str, list[EndpointVersion]],
                 floors: dict[str, Version] | None = None):
        self.services = services
        self.floors = dict(floors or {})
        # each list sorted by version, oldest first
        self.endpoints = {name: sorted(vs, key=lambda v: v.version) for name, vs in endpoints.items()}
        # The newest ClearML-compatible version: our extensions (EXTENSIONS_FROM and above) are not
        # advertised as the API version, so clients keep choosing their ClearML request versions.
        self.newest_version: Version = max(
            (v.version for vs in self.endpoints.values() for v in vs if v.version < EXTENSIONS_FROM), default=(1, 0)
        )

    def floor(self, name: str) -> Version | None:
        """The lowest version `name` is served at (see MIN_VERSION_KEY); None for an unknown endpoint."""
        versions = self.endpoints.get(name)
        if not versions:
            return None
        if name in self.floors:
            return self.floors[name]
        first = versions[0].version
        return first if first >= EXTENSIONS_FROM else min(first, CLEARML_FLOOR)

    def resolve(self, name: str, requested: Version) -> EndpointVersion | None:
        """The highest declared version not above `requested` (requests above the newest get the newest);
        below the first declared version, the first one as long as `requested` reaches the floor."""
        floor = self.floor(name)
        if floor is None or requested < floor:
            return None
        chosen = None
        for candidate in self.endpoints.get(name, ()):
            if candidate.version <= requested:
                chosen = candidate
            else:
                break
        return chosen or self.endpoints[name][0]

    def handler_problems(self, handler_names) -> list[SchemaProblem]:
        """Both directions of the handler check: an endpoint no handler serves, a handler no schema
        declares (it could never be called, so it is a mistake either way)."""
        handled = set(handler_names)
        problems = [
            SchemaProblem(v.file, name, v.version_text, "no handler serves this endpoint")
            for name, vs in sorted(self.endpoints.items())
            if name not in handled
            for v in vs
        ]
        problems.extend(
            SchemaProblem(f"{name.split('.')[0]}.conf", name, "", "a handler serves it but no schema declares it")
            for name in sorted(handled - set(self.endpoints))
            if name.split(".")[0] in self.services  # a folder holding only some services checks those
        )
        return problems


_parse = hocon_cache.load


def _load_service(path: Path, api_defaults: dict, problems: list[SchemaProblem], floors: dict | None = None):
    fname = path.name
    floors = {} if floors is None else floors
    try:
        tree = _parse(path)
    except (ConfigException, OSError, ValueError, KeyError) as exc:
        problems.append(SchemaProblem(fname, "", "", f"cannot parse: {exc}"))
        return None, {}
    service_name = path.stem
    definitions = tree.get("_definitions", {}) or {}
    service_defaults = {**api_defaults, **(tree.get("_default", {}) or {})}
    if schema_error({"definitions": definitions}, (fname, "_definitions", ""), problems):
        return None, {}
    service = Service(service_name, fname, tree.get("_description", ""), definitions)
    definitions = ecma_patterns(definitions)  # once a service, for every schema compiled with them
    endpoints: dict[str, list[EndpointVersion]] = {}
    for action, block in tree.items():
        if action.startswith("_"):
            continue
        name = f"{service_name}.{action}"
        if not isinstance(block, dict):
            problems.append(SchemaProblem(fname, name, "", "an endpoint must be an object of versions"))
            continue
        endpoint_defaults = {**service_defaults, **{k: block[k] for k in ENDPOINT_FLAGS if k in block}}
        if MIN_VERSION_KEY in block:
            floor = str(block[MIN_VERSION_KEY])
            try:
                floors[name] = parse_version(floor)
            except ValueError:
                problems.append(SchemaProblem(fname, name, floor, "min_version must be major.minor, e.g. \"2.9\""))
        versions = []
        for key, spec in block.items():
            if key in ENDPOINT_FLAGS or key == MIN_VERSION_KEY or key.startswith("_"):
                continue
            try:
                version = parse_version(key)
            except ValueError:
                problems.append(SchemaProblem(fname, name, key, "version key must be major.minor, e.g. \"2.13\""))
                continue
            loaded = _load_version(fname, name, version, spec, definitions, endpoint_defaults, problems)
            if loaded:
                versions.append(loaded)
        if versions:
            endpoints[name] = versions
        elif not any(p.endpoint == name for p in problems):
            problems.append(SchemaProblem(fname, name, "", "endpoint declares no version"))
    return service, endpoints


def _load_version(fname, name, version, spec, definitions, defaults, problems) -> EndpointVersion | None:
    where = (fname, name, format_version(version))
    if not isinstance(spec, dict):
        problems.append(SchemaProblem(*where, "a version must be an object with request and response"))
        return None
    unknown = [k for k in spec if k not in VERSION_PARTS]
    if unknown:
        problems.append(SchemaProblem(*where, f"unknown keys {sorted(unknown)}"))
    flags = {**defaults, **{k: spec[k] for k in ENDPOINT_FLAGS if k in spec}}
    batch = "batch_request" in spec
    request = spec.get("batch_request" if batch else "request")
    if request is None and flags.get("raw_body"):
        request = {"type": "object"}
    if not isinstance(request, dict):
        problems.append(SchemaProblem(*where, "missing request schema"))
        return None
    response = spec.get("response")
    if not isinstance(response, dict):
        problems.append(SchemaProblem(*where, "missing response schema"))
        return None
    before = len(problems)
    validator = compile_schema(request, definitions, where, problems)
    response_validator = compile_schema(response, definitions, where, problems)
    line_request = spec.get("line_request")
    line_validator = None
    if line_request is not None:
        if not isinstance(line_request, dict) or not flags.get("raw_body"):
            problems.append(SchemaProblem(*where, "line_request must be an object, on a raw_body version"))
        else:
            line_validator = compile_schema(line_request, definitions, where, problems)
    if len(problems) > before:
        return None
    allow_roles = flags.get("allow_roles") or ["*"]
    return EndpointVersion(
        name=name,
        version=version,
        file=fname,
        description=str(spec.get("description", flags.get("description", ""))),
        request_schema=request,
        response_schema=response,
        definitions=definitions,
        authorize=flags.get("authorize", True),
        allow_roles=list(allow_roles),
        internal=bool(flags.get("internal", False)),
        raw_body=bool(flags.get("raw_body", False)),
        stream_response=bool(flags.get("stream_response", False)),
        form_body=bool(flags.get("form_body", False)),
        stream_formats=tuple(str(f) for f in flags.get("stream_formats") or ()),
        transfer=bool(flags.get("transfer", False)),
        batch=batch,
        validator=validator,
        response_validator=response_validator,
        line_validator=line_validator,
    )


def load_schemas(directory: str | Path, partial: bool = False) -> tuple[SchemaRegistry | None, list[SchemaProblem]]:
    """Loads every service file; returns the registry (None when anything is wrong) and the problems.

    With `partial` the registry of whatever did load comes back alongside the problems (the schema
    checker inspects it further); never serve such a registry.
    """
    directory = Path(directory).resolve()  # a link to the live copy is followed once: one whole set
    problems: list[SchemaProblem] = []
    if not directory.is_dir():
        return None, [SchemaProblem(str(directory), "", "", "schema folder not found")]
    api_defaults = dict(BUILTIN_DEFAULTS)
    defaults_file = directory / "_api_defaults.conf"
    if defaults_file.exists():
        try:
            api_defaults.update(_parse(defaults_file))
        except (ConfigException, OSError, ValueError) as exc:
            problems.append(SchemaProblem(defaults_file.name, "", "", f"cannot parse: {exc}"))
    services: dict[str, Service] = {}
    endpoints: dict[str, list[EndpointVersion]] = {}
    floors: dict[str, Version] = {}
    for path in sorted(directory.glob("*.conf")):
        if path.name.startswith("_"):
            continue
        service, service_endpoints = _load_service(path, api_defaults, problems, floors)
        if service:
            services[service.name] = service
            endpoints.update(service_endpoints)
    if problems and not partial:
        return None, problems
    return SchemaRegistry(services, endpoints, floors), problems


def load_registry(directory: str | Path, handler_names=None) -> SchemaRegistry:
    """Loads the schemas and, given the handler table, refuses endpoints no handler serves."""
    registry, problems = load_schemas(directory)
    if registry is not None and handler_names is not None:
        problems = registry.handler_problems(handler_names)
    if problems:
        raise SchemaLoadError(problems)
    return registry
