"""What a handler receives is what the request schema says, whatever carried it: a value where the
schema says `integer` is an int within 64 bits (a whole float such as `3.0` becomes that int, `1e300` is
a 400 naming the field before anything is written); query-string text is typed by the schema, not by its
shape; text that is not UTF-8 is refused naming the field; and a pattern's `$` does not pass a trailing
newline. Through the full dispatcher, in JSON bodies, query strings, form fields, NDJSON and batch lines."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from server.config import load_config, schema_dir
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from services.handlers import all_handlers
from tests.helpers import codes, make_user

V = "2.13"
X = "2.99"
NDJSON = {"Content-Type": "application/x-ndjson"}
BOUNDARY = "----request-values"


def _task(client, name="values-task"):
    return client.ok("tasks.create", {"name": name, "type": "training"}, version=V)["id"]


def _model(client, name="values-model"):
    return client.ok("models.create", {"name": name, "uri": f"file:///{name}"}, version=V)["id"]


def form(fields: dict[str, bytes]) -> bytes:
    return b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value
                    + b"\r\n" for name, value in fields.items()) + f"--{BOUNDARY}--\r\n".encode()


def post_form(client, endpoint: str, fields: dict[str, bytes], version: str = X):
    return client.raw(f"/v{version}/{endpoint}", form(fields),
                      headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def meta_of(result) -> dict:
    meta = result.json["meta"]
    assert result.status_code == meta["result_code"], meta
    return meta


def refused(meta: dict, field: str) -> bool:
    return codes(meta) == (400, 12) and f"'{field}'" in meta["result_msg"]


# --- integers ---------------------------------------------------------------------------------------------

def test_a_whole_float_at_an_integer_field_is_that_integer(client):
    task, model = _task(client), _model(client)
    registered = client.ok("models.get_registered", {"page": 0.0, "page_size": 20.0}, version=X)["registered"]
    assert [entry["name"] for entry in registered] == ["values-model"]
    assert client.ok("models.get_registered", {"page": 3.0, "page_size": 20.0}, version=X)["registered"] == []
    assert isinstance(client.ok("audit.get_all", {"page": 0.0, "page_size": 10.0}, version=X)["entries"], list)
    client.ok("tasks.add_or_update_model", {"task": task, "name": "out", "model": model, "type": "output",
                                            "iteration": 7.0}, version=V)
    last = client.ok("tasks.get_by_id", {"task": task}, version=V)["task"]["last_iteration"]
    assert last == 7 and isinstance(last, int)


@pytest.mark.parametrize("number", [1e300, 9.3e18, -1e19])
def test_an_integer_field_beyond_64_bits_is_refused_before_anything_is_written(client, number):
    task, model = _task(client), _model(client)
    meta = client.error("tasks.add_or_update_model", {"task": task, "name": "out1", "model": model,
                                                      "type": "output", "iteration": number}, version=V)
    assert refused(meta, "iteration") and "64 bits" in meta["result_msg"], meta
    assert client.ok("tasks.get_by_id", {"task": task}, version=V)["task"]["models"]["output"] == []

    meta = client.error("models.update_for_task", {"task": task, "uri": "file:///w", "iteration": number,
                                                   "name": "values-output"}, version=V)
    assert refused(meta, "iteration"), meta
    assert client.ok("models.get_all", {"task": [task]}, version=V)["models"] == []
    assert client.ok("tasks.get_by_id", {"task": task}, version=V)["task"].get("output", {}).get("model") is None


@pytest.mark.parametrize("endpoint, data, field, version", [
    ("events.get_task_log", {"batch_size": 1e300}, "batch_size", V),
    ("audit.get_all", {"page": 1e300, "page_size": 10.0}, "page", X),
    ("models.get_all", {"page": 0, "page_size": 2.0**63}, "page_size", V),
])
def test_a_read_with_an_integer_beyond_64_bits_is_a_400(client, endpoint, data, field, version):
    if endpoint == "events.get_task_log":
        data = {**data, "task": _task(client)}
    assert refused(client.error(endpoint, data, version=version), field)


def test_integers_in_the_query_string_follow_the_schema(client):
    _model(client)
    reply = client.raw(f"/v{X}/models.get_registered", query_string="page=0.0&page_size=5.0")
    assert reply.status_code == 200 and len(reply.json["data"]["registered"]) == 1, reply.text
    assert refused(meta_of(client.raw(f"/v{X}/models.get_registered", query_string="page=1e300")), "page")
    assert refused(meta_of(client.raw(f"/v{X}/models.get_registered", query_string="page=-2")), "page")  # minimum


def test_events_with_numbers_that_cannot_be_kept_are_counted_and_the_rest_stored(client):
    task = _task(client)
    lines = [{"msg": "first"}, {"msg": "far", "timestamp": 1e300}, {"msg": "past int64", "timestamp": 9.3e18},
             {"msg": "past dates", "timestamp": 2**62}, {"msg": "iteration", "iter": 1e300},
             {"msg": "whole", "iter": 3.0, "timestamp": 1.7e12}, {"msg": "last"}]
    body = "\n".join(json.dumps({"task": task, "type": "log", **line}) for line in lines)
    reply = client.raw(f"/v{V}/events.add_batch", body, headers=NDJSON)
    assert reply.status_code == 200, reply.text
    assert reply.json["data"] == {"added": 3, "errors": 4, "errors_info": {
        "Invalid event timestamp": 3, "Invalid event iteration": 1}}
    log = client.ok("events.get_task_log", {"task": task, "navigate_earlier": False}, version=V)["events"]
    assert sorted(event["msg"] for event in log) == ["first", "last", "whole"]
    assert [event["iter"] for event in log if event["msg"] == "whole"] == [3]
    for event in ({"timestamp": 1e300}, {"timestamp": 9.3e18}, {"iter": 1e300}):
        reply = client.ok("events.add", {"task": task, "type": "log", **event}, version=V)
        assert (reply["added"], reply["errors"]) == (0, 1), (event, reply)


# --- every body kind, through an endpoint version that declares integers there ---------------------------

TYPED = "2.100"
TYPED_VERSIONS = {
    "records.conf": """
add {
    "2.100": ${add."2.99"} {
        request.properties.info { type: [object, "null"], properties { n { type: integer } } }
    }
}
add_many {
    "2.100": ${add_many."2.99"} {
        line_request.properties.info { type: [object, "null"], properties { n { type: integer } } }
    }
}
""",
    "events.conf": """
add_batch {
    "2.100": ${add_batch."2.1"} {
        batch_request.properties.iter { type: integer }
    }
}
""",
}


@pytest.fixture
def typed_client(tmp_path, app_config, db):
    folder = tmp_path / "services"
    shutil.copytree(schema_dir(load_config(env={})), folder)
    for name, text in TYPED_VERSIONS.items():
        with open(folder / name, "a") as conf:
            conf.write(text)
    state = build_state(app_config, load_registry(folder, all_handlers().keys()))
    yield make_user(create_app(app_config, state), "op", "company_values_" + "0" * 14, role="admin")
    state.stores.db.client.close()


def _records(client, model: str) -> list:
    found = client.ok("records.get_all", {"model": [model]}, version=X)["records"]
    return sorted(record["info"]["n"] for record in found)


def test_a_json_body_and_form_fields_settle_integers_before_the_handler(typed_client):
    client, model = typed_client, _model(typed_client)
    reply = client.ok("records.add", {"model": model, "info": {"n": 4.0}}, version=TYPED)
    assert isinstance(reply["record"]["info"]["n"], int)
    assert refused(client.error("records.add", {"model": model, "info": {"n": 1e300}}, version=TYPED), "info.n")
    result = post_form(client, "records.add", {"model": model.encode(), "info": b'{"n": 5.0}'}, TYPED)
    assert result.status_code == 200 and isinstance(result.json["data"]["record"]["info"]["n"], int), result.text
    result = post_form(client, "records.add", {"model": model.encode(), "info": b'{"n": 1e300}'}, TYPED)
    assert refused(meta_of(result), "info.n")
    assert _records(client, model) == [4, 5]


def test_ndjson_lines_settle_integers_line_by_line(typed_client):
    client, model = typed_client, _model(typed_client)
    lines = b'{"info": {"n": 6.0}}\n{"info": {"n": 1e300}}\n{"info": {"n": 7}}\n'
    result = client.raw(f"/v{TYPED}/records.add_many", lines, headers=NDJSON, query_string=f"model={model}")
    assert result.status_code == 200, result.text
    data = result.json["data"]
    assert (data["stored"], data["refused_count"]) == (2, 1), data
    assert data["refused"][0]["line"] == 2 and "'info.n'" in data["refused"][0]["error"]
    stored = _records(client, model)
    assert stored == [6, 7] and all(isinstance(n, int) for n in stored)


def test_batch_items_settle_integers_before_the_handler(typed_client):
    client, task = typed_client, _task(typed_client)
    body = "\n".join(json.dumps({"task": task, "type": "log", "iter": n}) for n in (1.0, 1e300))
    meta = meta_of(client.raw(f"/v{TYPED}/events.add_batch", body, headers=NDJSON))
    assert codes(meta) == (400, 12) and "batch item 1" in meta["result_msg"] and "'iter'" in meta["result_msg"]
    assert client.ok("events.get_task_log", {"task": task}, version=V)["events"] == []


# --- query strings are typed by the schema -----------------------------------------------------------------

def test_a_string_field_in_the_query_string_keeps_the_text_sent(client):
    model = _model(client)
    client.ok("datasets.create", {"model": model, "name": "20240101"}, version=X)
    result = client.raw(f"/v{X}/records.add_many", b'{"data": 1}\n', headers=NDJSON,
                        query_string=f"model={model}&dataset=20240101")
    assert result.status_code == 200 and result.json["data"]["stored"] == 1, result.text
    [record] = client.ok("records.get_all", {"model": [model]}, version=X)["records"]
    assert record["dataset"]


@pytest.mark.parametrize("filename", ["1.10", "007", "true"])
def test_an_uploaded_file_keeps_the_name_sent(alice, filename):
    model = alice.ok("models.create", {"name": f"named-{filename}", "uri": "file:///x"}, version=V)["id"]
    result = alice.raw(f"/v{V}/models.upload", body=b"weights", query_string=f"model={model}&filename={filename}")
    assert result.status_code == 200, result.text
    stored = alice.ok("models.get_by_id", {"model": model}, version=X)["model"]["file"]["filename"]
    assert stored == filename


def test_a_digits_only_sha256_is_compared_as_text(alice):
    model = alice.ok("models.create", {"name": "digits-sha", "uri": "file:///x"}, version=V)["id"]
    result = alice.raw(f"/v{V}/models.upload", body=b"weights", query_string=f"model={model}&sha256={'1' * 64}")
    meta = meta_of(result)
    assert meta["result_code"] == 400 and "64 bits" not in meta["result_msg"], meta
    good = hashlib.sha256(b"weights").hexdigest()
    result = alice.raw(f"/v{V}/models.upload", body=b"weights", query_string=f"model={model}&sha256={good}")
    assert result.status_code == 200, result.text


# --- text that is not UTF-8 ------------------------------------------------------------------------------------

def test_a_form_field_that_is_not_utf8_is_refused_naming_it(client):
    model = _model(client)
    result = post_form(client, "records.add", {"model": model.encode(), "site": b"\xff\xfe"})
    meta = meta_of(result)
    assert refused(meta, "site") and "not UTF-8" in meta["result_msg"], meta
    assert client.ok("records.get_all", {"model": [model]}, version=X)["records"] == []


def test_a_query_string_or_form_body_that_is_not_utf8_is_refused(client):
    model = _model(client)
    meta = meta_of(client.raw(f"/v{X}/records.add", {"model": model}, query_string="site=%FF%FE"))
    assert refused(meta, "site") and "not UTF-8" in meta["result_msg"], meta
    body = f"model={model}&site=".encode() + b"\xff"
    meta = meta_of(client.raw(f"/v{X}/records.add", body,
                              headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert meta["result_code"] == 400 and "not UTF-8" in meta["result_msg"], meta
    assert client.ok("records.get_all", {"model": [model]}, version=X)["records"] == []


# --- patterns ---------------------------------------------------------------------------------------------------

def test_a_pattern_ending_in_dollar_refuses_a_trailing_newline(client):
    model = _model(client)
    assert refused(client.error("models.set_alias", {"model": model, "alias": "prod\n"}, version=X), "alias")
    assert codes(client.error("models.get_by_alias", {"name": "values-model", "alias": "prod"}, version=X))[0] == 400
    client.ok("models.set_alias", {"model": model, "alias": "prod"}, version=X)
    assert refused(client.error("records.get_series", {"model": model, "field": "x\n"}, version=X), "field")
