"""Every way a request carries values (JSON body, multipart form fields, NDJSON lines, query string)
passes the same checks before anything is stored, and values beyond what the database or Python can
hold (huge integers, far dates, skips past 64 bits, documents past 16 MiB) are a 4xx naming the field."""

from __future__ import annotations

import json

import pytest

from tests.helpers import codes

V = "2.99"
BOUNDARY = "----modelreg-bodies-boundary"


def form(fields: dict[str, str]) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode()
             for name, text in fields.items()]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post_form(client, endpoint: str, fields: dict[str, str]):
    body = form(fields)
    return client.raw(f"/v{V}/{endpoint}", body, headers={
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(len(body))})


def raw_error(client, endpoint: str, raw: str | bytes, version: str = V, content_type="application/json") -> dict:
    result = client.raw(f"/v{version}/{endpoint}", raw, headers={"Content-Type": content_type})
    meta = result.json["meta"]
    assert result.status_code == meta["result_code"], meta
    assert 400 <= meta["result_code"] < 500, meta
    return meta


@pytest.fixture
def model(client):
    return client.ok("models.create", {"name": "bodies", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


@pytest.mark.parametrize("data, named", [
    ('{"x": NaN}', "data.x"),
    ('{"x": Infinity}', "data.x"),
    (str(2**70), "data"),
    ('{"\\ud800": 1}', "data"),
    ('{"a\\u0000b": 1}', "data"),
    (nested(900), "data.a.a"),
    (nested(2000), ""),
])
def test_multipart_fields_pass_the_json_body_checks(client, model, data, named):
    result = post_form(client, "records.add", {"model": model, "data": data})
    meta = result.json["meta"]
    assert result.status_code == meta["result_code"] == 400, meta
    assert f"'{named}" in meta["result_msg"] if named else "nested deeper than" in meta["result_msg"]
    assert client.ok("records.get_all", {"model": [model]}, version=V)["records"] == []


def test_a_multipart_form_within_the_checks_is_stored(client, model):
    result = post_form(client, "records.add", {"model": model, "data": '{"x": 1.5, "y": [1, {"z": null}]}',
                                                "info": '{"k": "v"}', "site": "north"})
    assert result.status_code == 200, result.text
    record = result.json["data"]["record"]
    assert (record["data"], record["info"], record["site"]) == ({"x": 1.5, "y": [1, {"z": None}]}, {"k": "v"}, "north")


def test_a_huge_integer_is_a_400_in_every_kind_of_body(client, model):
    huge = "9" * 5000
    meta = raw_error(client, "models.get_all", f'{{"page": {huge}}}', version="2.13")
    assert codes(meta) == (400, 12) and "'page'. integers must fit in 64 bits" in meta["result_msg"]
    result = post_form(client, "records.add", {"model": model, "data": f'{{"n": [-{huge}]}}'})
    assert result.status_code == 400 and "'data.n[0]'. integers must fit" in result.json["meta"]["result_msg"]
    meta = raw_error(client, "events.add_batch", f'{{"task": "t", "type": "training_stats_scalar", "value": {huge}}}',
                     version="2.13", content_type="application/x-ndjson")
    assert codes(meta) == (400, 12), meta
    result = client.raw("/v2.13/models.get_all", query_string=f"page={huge}")
    assert result.status_code == 400 and "'page'. integers must fit" in result.json["meta"]["result_msg"]
    assert client.ok("records.get_all", {"model": [model]}, version=V)["records"] == []


@pytest.mark.parametrize("request_data, field", [
    ({"timestamp": "9999-12-31T23:59:59.999999-14:00"}, "timestamp"),
    ({"timestamp": "0001-01-01T00:00:00+14:00"}, "timestamp"),
    ({"collection_date": "9999-12-31"}, "collection_date"),
])
def test_far_dates_are_refused_when_stored(client, model, request_data, field):
    meta = client.error("records.add", {"model": model, **request_data}, version=V)
    assert codes(meta) == (400, 12) and field in meta["result_msg"], meta
    assert client.ok("records.get_all", {"model": [model]}, version=V)["records"] == []


@pytest.mark.parametrize("endpoint, request_data, field, version", [
    ("records.get_all", {"end_timestamp": "9999-12-31T23:59:59.9999Z"}, "end_timestamp", V),
    ("records.get_all", {"start_timestamp": "9999-12-31T23:59:59-14:00"}, "start_timestamp", V),
    ("records.get_all", {"collection_date_range": [None, "9999-12-31"]}, "collection_date_range", V),
    ("models.get_all", {"last_update": [">=9999-12-31T23:59:59-14:00"]}, "last_update", "2.13"),
    ("models.get_all", {"created": "<0001-01-01T00:00:00+01:00"}, "created", "2.13"),
])
def test_far_dates_are_refused_in_filters(client, endpoint, request_data, field, version):
    meta = client.error(endpoint, request_data, version=version)
    assert codes(meta)[0] == 400 and field in meta["result_msg"], meta


def test_the_widest_accepted_dates_are_served(client, model):
    add = client.ok("records.add", {"model": model, "timestamp": "9999-12-30T00:00:00Z",
                                    "collection_date": "9999-12-30"}, version=V)["record"]
    found = client.ok("records.get_all", {"end_timestamp": "9999-12-30T23:59:59.999Z",
                                          "collection_date_range": ["0001-01-02", "9999-12-30"]}, version=V)
    assert [r["id"] for r in found["records"]] == [add["id"]]


@pytest.mark.parametrize("endpoint, request_data, version", [
    ("models.get_versions", {"name": "bodies", "page": 2**62}, V),
    ("models.get_versions", {"name": "bodies", "page": 2**40, "page_size": 2**40}, V),
    ("models.get_all", {"page": 2**62, "page_size": 500}, "2.13"),
])
def test_pages_beyond_what_the_database_counts_are_refused(client, endpoint, request_data, version):
    meta = client.error(endpoint, request_data, version=version)
    assert codes(meta)[0] == 400 and "page" in meta["result_msg"], meta


def test_a_far_page_of_an_in_memory_listing_is_served_empty(client):
    reply = client.ok("projects.get_model_metadata_keys", {"project": "p", "page": 2**62}, version="2.13")
    assert reply == {"keys": [], "remaining": 0, "total": 0}


def test_the_last_page_the_database_counts_is_served(client):
    assert client.ok("models.get_all", {"page": 2**62, "page_size": 1}, version="2.13")["models"] == []
    assert client.ok("models.get_versions", {"name": "x", "page": 2**62, "page_size": 1}, version=V)["models"] == []


def short_meta(result) -> tuple[int, int, str]:
    meta = result.json["meta"]
    assert result.status_code == meta["result_code"]
    return meta["result_code"], meta["result_subcode"], meta["result_msg"][:200]


def test_a_document_pushed_past_the_database_limit_is_a_4xx(client, model):
    big = "x" * (4 * 1024 * 1024 - 64)  # just within server.max_field_bytes
    set_keys = []
    for n in range(6):
        result = client.call("users.set_preferences", {"preferences": {f"k{n}": big}}, version="2.1")
        if result.status_code != 200:
            break
        set_keys.append(f"k{n}")
    assert short_meta(result)[:2] == (413, 0) and 3 <= len(set_keys) < 6, (short_meta(result), set_keys)
    kept = client.ok("users.get_preferences", {}, version="2.1")["preferences"]
    assert sorted(kept) == set_keys  # the refused key was not written

    record = client.ok("records.add", {"model": model, "data": big, "info": {"a": big}}, version=V)["record"]
    result = client.call("records.edit", {"record": record["id"], "site": big, "season": big, "experiment": big},
                         version=V)
    assert short_meta(result)[:2] == (413, 0), short_meta(result)
    assert client.ok("records.get_by_id", {"record": record["id"]}, version=V)["record"].get("site") is None


def test_json_nan_text_is_refused_in_a_query_string_and_lines(client):
    result = client.raw("/v2.13/models.get_all", query_string="page=NaN")
    assert result.status_code == 400, result.text
    meta = raw_error(client, "events.add_batch", '{"task": "t", "type": "x", "value": NaN}', version="2.13",
                     content_type="application/x-ndjson")
    assert codes(meta) == (400, 12) and "NaN" in meta["result_msg"]
    assert json.loads(client.raw("/v2.13/models.get_all").text)["meta"]["result_code"] == 200
