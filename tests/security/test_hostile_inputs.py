"""Hostile input, generated from the schema registry: every endpoint version, every request field (and the
fields one level down in object fields that declare them) gets every value class below, as raw JSON text,
as JSON lines for batch endpoints, in the query string for raw-body endpoints and as multipart fields
where the version declares `form_body`. Every call must answer below 500 within CALL_SECONDS, and after
every write that answered 200 the reads of what it touched still answer 200 with valid JSON (nothing was
stored that a later read cannot send back).

The caller is the admin of a fresh company whose seeded documents (project, model with a stored file,
task, dataset, record, a second user) fill the id fields, so handlers run past their lookups. A field of
an older version whose schema equals the same field in a newer version is tested once, in the newest.
"""

from __future__ import annotations

import faulthandler
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest

from database.connection import connect
from server.config import load_config
from server.http.app import build_state, create_app
from tests.files_support import s3_overrides
from tests.fixtures.app import drop
from tests.helpers import make_user, shipped_registry
from tests.webhook_support import seed_webhook

CALL_SECONDS = 5.0
BOUNDARY = "hostile-boundary-7f3a"
DEEP = 2000
CATASTROPHIC = "^(a+)+$"


REGISTRY = shipped_registry()


# --- value classes: name -> raw JSON text (or a function of the field's schema giving it) ---------------

def _wrong_type(prop: dict) -> str:
    """A value of a type the field does not declare (an operator object where a scalar is expected)."""
    kinds = prop.get("type")
    kinds = set(kinds if isinstance(kinds, list) else [kinds] if kinds else [])
    if "object" not in kinds:
        return '{"$gt": "", "$where": "sleep(10000)"}'
    if "string" not in kinds:
        return '"not-an-object"'
    return "12.5"


def _wrong_array(prop: dict) -> str:
    kinds = prop.get("type")
    kinds = set(kinds if isinstance(kinds, list) else [kinds] if kinds else [])
    return '[{"$ne": null}, [[1]], "x"]' if "array" not in kinds else '[{"$regex": ".*"}]'


def _regex(prop: dict) -> str:
    """The pattern as text; where the field takes an object, a JSON Schema carrying it (a signature part)."""
    kinds = prop.get("type")
    kinds = set(kinds if isinstance(kinds, list) else [kinds] if kinds else [])
    if "object" in kinds and "string" not in kinds:
        return json.dumps({"type": "string", "pattern": CATASTROPHIC, "properties": {
            "text": {"type": "string", "pattern": "(x+x+)+y"}}})
    return json.dumps(CATASTROPHIC)


def _regex_subject(prop: dict) -> str:
    """Text on which CATASTROPHIC backtracks (~2**28 steps): where a stored pattern is matched (the seeded
    model's signature, through models.validate_input's `data`) it runs for seconds unless guarded."""
    subject = "a" * 28 + "!"
    kinds = _kinds(prop)
    return json.dumps(subject if "string" in kinds else {"text": subject})


VALUE_CLASSES: dict[str, object] = {
    "deep_array": "[" * DEEP + "]" * DEEP,
    "deep_object": '{"a":' * DEEP + "1" + "}" * DEEP,
    "int_2**70": str(2**70),
    "int_5000_digits": "9" * 5000,
    "float_1e300": "1e300",  # JSON Schema counts it an integer
    "float_whole": "2.0",
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "date_far": '"9999-12-31T23:59:59.999999-14:00"',
    "date_zero": '"0000-00-00"',
    "date_text": '"not a date"',
    "string_1MB": json.dumps("a" * (1 << 20)),
    "nul_value": '"a\\u0000b"',
    "surrogate_value": '"a\\ud800b"',
    "nul_key": '{"k\\u0000": 1}',
    "surrogate_key": '{"\\udfff": 1}',
    "wrong_type": _wrong_type,
    "wrong_array": _wrong_array,
    "null": "null",
    "array_100k": "[" + ",".join(["1"] * 100_000) + "]",
    "regex": _regex,
    "regex_subject": _regex_subject,
}
# Classes only sent at the top level: one level down they meet the same body-wide check, at a high price.
NOT_NESTED = {"array_100k", "deep_array", "deep_object", "string_1MB"}
# Classes whose value can ride in a query string (raw-body endpoints), as the text sent.
QUERY_CLASSES = {
    "int_5000_digits": "9" * 5000, "int_2**70": str(2**70), "float_1e300": "1e300", "float_whole": "2.0",
    "date_far": "9999-12-31T23:59:59.999999-14:00",
    "date_zero": "0000-00-00", "date_text": "not a date", "string_100k": "a" * 100_000, "nul_value": "a\x00b",
    "regex": CATASTROPHIC, "NaN": "NaN", "negative": "-1",
}


def _kinds(prop: dict) -> list:
    kinds = prop.get("type")
    return kinds if isinstance(kinds, list) else [kinds]


def raw_value(value_class: str, prop: dict) -> str:
    value = VALUE_CLASSES[value_class]
    return value(prop) if callable(value) else value


# --- the seeded world ------------------------------------------------------------------------------------

@dataclass
class World:
    client: object  # the admin of a fresh company
    ids: dict
    calls: int = 0


@dataclass
class Env:
    app: object
    db: object
    registry: object
    worlds: int = 0
    calls: list = field(default_factory=list)
    cost: dict = field(default_factory=dict)  # seconds spent, by value class and on seeding
    world: World | None = None  # reused by the next endpoint while no write changed it


@pytest.fixture(scope="module")
def env(mongo_uri, s3):
    db_name = f"t_hostile_{uuid.uuid4().hex[:10]}"
    bucket = "t-" + db_name.replace("_", "-").lower()
    s3.client().make_bucket(bucket)
    config = load_config(overrides={
        "mongo.uri": mongo_uri, "mongo.database": db_name, "mongo.timeout_ms": 3000,
        "auth.token_secret": secrets.token_hex(32), **s3_overrides(s3, bucket=bucket)}, env={})
    app = create_app(config, build_state(config, REGISTRY))
    db = connect(mongo_uri, db_name)
    state = Env(app, db, REGISTRY)
    started = time.monotonic()
    try:
        yield state
    finally:
        # seen with `pytest -s`: the size and cost of the matrix
        print(f"\nhostile matrix: {len(state.calls)} calls, {state.worlds} seeded companies, "
              f"{time.monotonic() - started:.0f} s; seconds by value class: "
              f"{sorted(((round(v, 1), k) for k, v in state.cost.items()), reverse=True)[:8]}")
        app.modelreg_state.stores.db.client.close()
        drop(db)


def _must(reply, what: str) -> dict:
    assert reply.status_code == 200, f"seeding {what}: {reply.status_code} {reply.text[:300]}"
    return reply.json["data"]


def seed(env: Env, files: bool = True) -> World:
    """A fresh company: its admin calls, and a project, a model with a stored file and a signature, a task
    using it, a dataset and a record with a file, and a second user fill the id fields. Without `files`
    (a world replaced in the middle of an endpoint) nothing is stored in S3, which saves half the time."""
    env.worlds += 1
    started = time.monotonic()
    company = uuid.uuid4().hex
    admin = make_user(env.app, f"hostile-admin-{env.worlds}", company, role="admin")
    other = make_user(env.app, f"hostile-user-{env.worlds}", company, role="user")
    call = admin.call
    project = _must(call("projects.create", {"name": f"hostile project {env.worlds}"}, "2.13"), "project")["id"]
    signature = {"input": {"type": "object", "properties": {"text": {"type": "string", "pattern": CATASTROPHIC}}}}
    reply = call("models.create", {"name": "a" * 30 + "!", "uri": "s3://b/m.pt", "project": project,
                                   "signature": signature}, "2.99")
    if reply.status_code != 200:  # a guard may refuse the catastrophic pattern at write time
        reply = call("models.create", {"name": "a" * 30 + "!", "uri": "s3://b/m.pt", "project": project}, "2.99")
    model = _must(reply, "model")["id"]
    if files:
        _must(admin.raw("/v2.13/models.upload", body=b"weights", query_string=f"model={model}&filename=w.bin"),
              "model file")
    task = _must(call("tasks.create", {"name": "hostile task", "type": "training", "project": project}, "2.13"),
                 "task")["id"]
    _must(call("tasks.add_or_update_model", {"task": task, "name": "in", "model": model, "type": "input"}, "2.13"),
          "task input")
    dataset = _must(call("datasets.create", {"model": model, "name": "hostile set"}, "2.99"), "dataset")["id"]
    record = _must(call("records.add", {"model": model, "dataset": dataset, "site": "north",
                                        "data": {"text": "a" * 10}}, "2.99"), "record")["record"]["id"]
    if files:
        _must(admin.raw("/v2.99/records.upload", body=b"photo", query_string=f"record={record}&filename=p.jpg"),
              "record file")
    webhook, delivery = seed_webhook(env.app.modelreg_state.stores.db, company)
    ids = {"model": model, "task": task, "project": project, "dataset": dataset, "record": record,
           "user": other.identity["user"], "access_key": other.identity["key"], "company": company,
           "webhook": webhook, "delivery": delivery}
    env.cost["(seeding)"] = env.cost.get("(seeding)", 0) + time.monotonic() - started
    return World(admin, ids)


# --- request bodies --------------------------------------------------------------------------------------

SINGLE_ID_FIELDS = {
    "model": "model", "task": "task", "project": "project", "parent": "model", "dataset": "dataset",
    "record": "record", "new_task_project": "project", "new_task_parent": "task", "user": "user",
    "override_model_id": "model", "access_key": "access_key", "company": "company", "models": "model",
    "webhook": "webhook", "delivery": "delivery",
}
LIST_ID_FIELDS = {"ids": "model", "id": "model", "projects": "project", "tasks": "task", "models": "model",
                  "datasets": "dataset", "records": "record", "users": "user"}
LIST_ID_BY_SERVICE = {"tasks": "task", "projects": "project", "datasets": "dataset", "records": "record",
                      "webhooks": "webhook",
                      "users": "user", "models": "model"}


def _dummy(prop: dict):
    if "enum" in prop:
        return prop["enum"][0]
    kind = next((k for k in _kinds(prop) if k != "null"), "string")
    return {"string": "x", "integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(kind, "x")


def base_body(endpoint, ids: dict) -> dict:
    """A request that names the world's own ids in every id-shaped field, plus dummy required fields."""
    service = endpoint.name.split(".")[0]
    properties = endpoint.request_schema.get("properties") or {}
    body = {}
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kinds = _kinds(prop)
        is_list = "array" in kinds or ("$ref" in prop and "list_filter" in prop["$ref"])
        if name in LIST_ID_FIELDS and is_list:
            kind = LIST_ID_BY_SERVICE.get(service, "model") if name in ("ids", "id") else LIST_ID_FIELDS[name]
            body[name] = [ids[kind]]
        elif name in SINGLE_ID_FIELDS and ("string" in kinds or "$ref" in prop or kinds == [None]):
            body[name] = ids[SINGLE_ID_FIELDS[name]]
    for name in endpoint.request_schema.get("required") or []:
        if name not in body:
            body[name] = _dummy(properties.get(name) or {})
    return body


def body_text(base: dict, path: tuple[str, ...], raw: str) -> str:
    """`base` as JSON text with the value at `path` (one or two keys) replaced by the raw JSON text `raw`."""
    marker = "\u0001HOSTILE\u0001"
    body = json.loads(json.dumps(base))
    if not path:  # the body itself
        return raw
    target = body
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(body).replace(json.dumps(marker), raw)


def form_body(base: dict, name: str, raw: str, prop: dict) -> bytes:
    """Multipart: every field of `base`, the hostile one as text (a JSON string's content for string fields)."""
    fields = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in base.items()}
    text = raw
    if "string" in _kinds(prop) and raw.startswith('"'):
        text = json.loads(raw) if "\\ud8" not in raw.lower() and "\\udf" not in raw.lower() else "a\ud800b"
    fields[name] = text
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
             + v.encode("utf-8", "surrogatepass") + b"\r\n" for k, v in fields.items()]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


# --- which fields of which version -----------------------------------------------------------------------

def _prop_key(prop) -> str:
    return json.dumps(prop, sort_keys=True, default=str)


def plan():
    """(endpoint version, [field paths]) with fields already tested in a newer version left out."""
    out = []
    for name, versions in sorted(REGISTRY.endpoints.items()):
        seen: set[tuple] = set()
        for endpoint in reversed(versions):
            properties = endpoint.request_schema.get("properties") or {}
            paths = [()]  # the body itself
            for key, prop in properties.items():
                prop = prop if isinstance(prop, dict) else {}
                paths.append((key,))
                for sub in (prop.get("properties") or {}) if "object" in _kinds(prop) else {}:
                    paths.append((key, sub))
            fresh = []
            for path in paths:
                prop = properties.get(path[0], {}) if path else {}
                mark = (path, _prop_key(prop))
                if mark not in seen:
                    seen.add(mark)
                    fresh.append(path)
            if fresh:
                out.append(pytest.param(endpoint, fresh, id=f"{name}@{endpoint.version_text}"))
    return out


def field_schema(endpoint, path: tuple) -> dict:
    """The schema of the field at `path` (the request's own schema for the body itself)."""
    prop = endpoint.request_schema
    for key in path:
        found = (prop.get("properties") or {}).get(key) if isinstance(prop, dict) else None
        prop = found if isinstance(found, dict) else {}
    return prop


# --- the reads that must still work after a write --------------------------------------------------------

# resource: (listing, its version, the reply's list key, point read, its version, its id field)
RESOURCE_READS = {
    "models": ("models.get_all", "2.26", "models", "models.get_by_id", "2.1", "model"),
    "tasks": ("tasks.get_all", "2.26", "tasks", "tasks.get_by_id", "2.1", "task"),
    "projects": ("projects.get_all_ex", "2.20", "projects", "projects.get_by_id", "2.1", "project"),
    "datasets": ("datasets.get_all", "2.99", "datasets", "datasets.get_by_id", "2.99", "dataset"),
    "records": ("records.get_all", "2.99", "records", "records.get_by_id", "2.99", "record"),
}
# Reads of what a service stores that is not one of the resources above.
OTHER_READS = {
    "events": [("events.get_task_log", "2.1", "task")],
    "users": [("users.get_all", "2.1", None), ("users.get_preferences", "2.1", None),
              ("users.get_current_user", "2.1", None)],
    "auth": [("auth.get_credentials", "2.1", None), ("users.get_all", "2.1", None)],
    "tasks": [("tasks.get_configurations", "2.9", "tasks"), ("tasks.get_hyper_params", "2.9", "tasks")],
    "webhooks": [("webhooks.get_all", "2.99", None)],
}


def reads_after(client, service: str, ids: dict, touched: list[str]):
    """Yields (what was read, reply, as NDJSON) for the reads of what a write of `service` may have stored:
    each resource's listing of the touched ids, then a point read of each document that listing found."""
    resources = {service, "models", "tasks"} & set(RESOURCE_READS)
    for resource in sorted(resources):
        listing, version, key, point, point_version, field = RESOURCE_READS[resource]
        reply = client.raw(f"/v{version}/{listing}", body={"id": touched})
        yield f"{listing}@{version}", reply, False
        if resource == "records":
            yield f"{listing}@{version} (NDJSON)", client.raw(f"/v{version}/{listing}", body={"id": touched},
                                                              headers=NDJSON), True
        try:
            found = reply.json["data"].get(key, []) if reply.status_code == 200 else []
        except (ValueError, KeyError, AttributeError):
            found = []  # reported by the caller
        for doc in found:
            yield f"{point}@{point_version}", client.raw(f"/v{point_version}/{point}", body={field: doc["id"]}), False
    for name, version, field in OTHER_READS.get(service, []):
        body = {} if field is None else {field: [ids["task"]] if field == "tasks" else ids["task"]}
        yield f"{name}@{version}", client.raw(f"/v{version}/{name}", body=body), False


NDJSON = {"Accept": "application/x-ndjson"}
ID_TEXT = re.compile(r'"id":\s*"([0-9a-f]{32})"')


def _message(reply) -> str:
    try:
        return reply.json["meta"]["result_msg"][:200]
    except (ValueError, KeyError, TypeError):
        return reply.text[:200]


def _json_problem(reply, ndjson: bool) -> str | None:
    try:
        if ndjson:
            for line in reply.text.splitlines():
                json.loads(line)
        else:
            json.loads(reply.text)
    except ValueError as exc:
        return f"invalid JSON ({exc})"
    return None


# Writes after whose success the seeded world is not what it was (deleted, published, revoked, moved...).
WORLD_CHANGING = re.compile(r"delete|publish|archive|reset|stop|completed|failed|started|make_p|revoke|set_ready|"
                            r"move|update_for_task|import_url")


def _is_write(endpoint) -> bool:
    return not endpoint.role_allowed("guest")


@pytest.fixture(autouse=True)
def watchdog():
    """A call that never answers would hang the run: dump every thread's stack and stop instead."""
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.mark.parametrize(("endpoint", "paths"), plan())
def test_no_hostile_value_breaks_an_endpoint(env, endpoint, paths):
    if env.world is None:
        env.world = seed(env)
    world = env.world
    failures: list[str] = []
    where = f"{endpoint.name}@{endpoint.version_text}"
    url = f"/v{endpoint.version_text}/{endpoint.name}"
    write = _is_write(endpoint)

    def send(label: str, **request):
        nonlocal world
        started = time.monotonic()
        reply = world.client.raw(url, **request)
        took = time.monotonic() - started
        world.calls += 1
        env.calls.append(took)
        cls = label.split(" class ")[-1]
        env.cost[cls] = env.cost.get(cls, 0) + took
        if reply.status_code >= 500 or took > CALL_SECONDS:
            failures.append(f"{where} {label}: status {reply.status_code} in {took:.1f}s: {_message(reply)}")
        elif not endpoint.stream_response and _json_problem(reply, "ndjson" in str(request.get("headers"))):
            failures.append(f"{where} {label}: status {reply.status_code} reply is not JSON: {reply.text[:200]}")
        if reply.status_code == 200 and write:
            env.world = None  # the next endpoint starts with a world of its own
            touched = {i for i in world.ids.values()} | set(ID_TEXT.findall(reply.text[:100_000]))
            touched -= {world.ids["access_key"], world.ids["company"], world.ids["user"]}
            for what, read, ndjson in reads_after(world.client, endpoint.name.split(".")[0], world.ids,
                                                  sorted(touched)):
                env.calls.append(0.0)
                problem = _json_problem(read, ndjson)
                if read.status_code != 200 or problem:
                    failures.append(f"{where} {label}: stored a value that breaks {what}: {read.status_code} "
                                    f"{problem or _message(read)}")
            if WORLD_CHANGING.search(endpoint.name):
                world = seed(env, files=False)
        return reply

    for path in paths:
        prop = field_schema(endpoint, path)
        label_field = ".".join(path) or "(body)"
        base = base_body(endpoint, world.ids)
        if endpoint.raw_body:
            if len(path) != 1:
                continue
            for value_class, text in QUERY_CLASSES.items():
                base = base_body(endpoint, world.ids)
                params = {k: v for k, v in base.items() if isinstance(v, str)}
                params[path[0]] = text
                query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
                send(f"field {label_field} class {value_class} (query string)", body=b"bytes",
                     query_string=query)
            continue
        for value_class in VALUE_CLASSES:
            if not path and value_class in ("wrong_type", "regex", "regex_subject", "null"):
                continue
            if len(path) > 1 and value_class in NOT_NESTED:
                continue
            raw = raw_value(value_class, prop)
            base = base_body(endpoint, world.ids)  # a re-seeded world has new ids
            text = body_text(base, path, raw)
            label = f"field {label_field} class {value_class}"
            if endpoint.batch:
                line = text.replace("\n", " ")
                send(label + " (JSON lines)", body=line + "\n" + line,
                     headers={"Content-Type": "application/json-lines"})
                continue
            send(label, body=text, headers={"Content-Type": "application/json"})
            if "ndjson" in endpoint.stream_formats:
                send(label + " (NDJSON)", body=text, headers={"Content-Type": "application/json", **NDJSON})
            if endpoint.form_body and len(path) == 1:
                form = form_body(base_body(endpoint, world.ids), path[0], raw, prop)
                send(label + " (multipart)", body=form,
                     headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    # the company's whole listings still read after everything this endpoint stored
    for name, version, ndjson in (("models.get_all", "2.26", False), ("tasks.get_all", "2.26", False),
                                  ("projects.get_all", "2.15", False), ("records.get_all", "2.99", True),
                                  ("datasets.get_all", "2.99", False), ("users.get_all", "2.1", False)):
        if env.world is not None:
            break  # nothing was written
        read = world.client.raw(f"/v{version}/{name}", body={}, headers=NDJSON if ndjson else None)
        if read.status_code != 200 or _json_problem(read, ndjson):
            failures.append(f"{where}: the company's {name} no longer reads: {read.status_code} {_message(read)}")
    assert not failures, f"{len(failures)} hostile inputs broke {where}:\n" + "\n".join(failures)


def test_the_matrix_covers_every_endpoint_and_field():
    """The plan above is not vacuous: every endpoint of the registry, and every field of its newest version."""
    planned: dict = {}
    for param in plan():  # newest version first
        planned.setdefault(param.values[0].name, param.values)
    assert set(planned) == set(REGISTRY.endpoints)
    for name, versions in REGISTRY.endpoints.items():
        endpoint, paths = planned[name]
        if endpoint is versions[-1]:
            fields = {path[0] for path in paths if path}
            assert fields == set(versions[-1].request_schema.get("properties") or {}), name
    assert sum(len(param.values[1]) for param in plan()) > 700
