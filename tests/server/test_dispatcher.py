"""The path of one call through the real dispatcher: paths, versions, envelope, bodies, validation."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tests.helpers import codes


def test_every_path_form_reaches_the_endpoint(anon):
    for path in ("/debug.ping", "/debug.ping/", "/v2.13/debug.ping", "/api/v2.13/debug.ping", "/api/debug.ping"):
        result = anon.raw(path, method="GET")
        assert result.status_code == 200, path
        assert result.json["meta"]["endpoint"]["name"] == "debug.ping"


@pytest.mark.parametrize("path", ["/v2/debug.ping", "/debug", "/x.y.z/", "/v2.13/debug.ping/extra"])
def test_a_path_that_is_no_endpoint_is_400(anon, path):
    result = anon.raw(path)
    assert result.status_code == 400
    assert codes(result.json["meta"]) == (400, 0)
    assert "Invalid request path" in result.json["meta"]["result_msg"]


def test_an_unparsable_version_is_400_2(anon):
    result = anon.raw("/v01.5/debug.ping")
    assert codes(result.json["meta"]) == (400, 2)


def test_version_resolution_picks_the_highest_declared_not_above_the_request(client):
    meta = client.call("server.info", version="2.10").json["meta"]
    assert meta["endpoint"] == {"name": "server.info", "requested_version": "2.10", "actual_version": "2.8"}
    assert "uid" in client.ok("server.info", version="2.10")
    newer = client.ok("server.info", version="2.12")
    assert "api_version" in newer and "uid" not in newer
    above = client.call("server.info", version="9.99").json["meta"]["endpoint"]
    assert above["actual_version"] == "2.12" and above["requested_version"] == "9.99"


def test_no_version_means_the_server_api_version(client):
    meta = client.call("server.info").json["meta"]
    assert meta["endpoint"]["requested_version"] == "2.34"


def test_below_the_registered_version_and_unknown_endpoints_are_404(client):
    # ClearML registers models.make_public at 2.9 (most handlers at 1.0, see test_versions_floor.py)
    meta = client.error("models.make_public", {"ids": ["x"]}, version="2.8")
    assert codes(meta) == (404, 0)
    assert meta["endpoint"]["actual_version"] is None
    meta = client.error("models.no_such_action", version="2.13")
    assert codes(meta) == (404, 0)
    assert "Unable to find endpoint" in meta["result_msg"]


def test_envelope_fields(client):
    result = client.call("server.info", version="2.12", headers={"X-ClearML-Trx": "my-trx-1"})
    meta = result.json["meta"]
    assert set(meta) == {
        "id",
        "trx",
        "endpoint",
        "result_code",
        "result_subcode",
        "result_msg",
        "error_stack",
        "error_data",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", meta["id"])
    assert meta["trx"] == "my-trx-1"
    assert (meta["result_code"], meta["result_subcode"], meta["result_msg"]) == (200, 0, "OK")
    assert meta["error_stack"] is None and meta["error_data"] == {}
    untraced = client.call("server.info").json["meta"]
    assert untraced["trx"] == untraced["id"]


def test_errors_have_the_envelope_and_http_status_equals_result_code(client):
    result = client.call("auth.revoke_credentials", {}, version="2.1")
    body = result.json
    assert result.status_code == body["meta"]["result_code"] == 400
    assert body["data"] == {} and body["meta"]["error_stack"] is None


def test_get_with_a_json_body_and_query_string_merged_over_it(anon):
    result = anon.raw("/debug.ping?b=2&c=true&d=x&e=1.5&neg=-3", body={"a": 1, "b": 1}, method="GET")
    data = result.json["data"]
    assert data["a"] == 1 and data["b"] == 2 and data["c"] is True and data["d"] == "x" and data["e"] == 1.5
    assert data["neg"] == "-3"
    listed = anon.raw("/debug.ping?t=a&t=b&u[]=z", method="GET").json["data"]
    assert listed["t"] == ["a", "b"] and listed["u"] == ["z"]


def test_unknown_keys_are_ignored_and_the_sdk_method_key_too(client):
    data = client.ok("server.info", {"method": "get", "whatever": [1, 2]}, version="2.12")
    assert data["version"]


def test_malformed_json_is_a_clear_400(client):
    result = client.raw("/v2.1/auth.login", body=b'{"expiration_sec": ', headers={"Content-Type": "application/json"})
    meta = result.json["meta"]
    assert codes(meta) == (400, 0) and "malformed JSON" in meta["result_msg"]


def test_a_json_array_body_is_a_clear_400(client):
    result = client.raw("/v2.1/auth.login", body=b"[1, 2]")
    meta = result.json["meta"]
    assert codes(meta) == (400, 0) and "JSON object" in meta["result_msg"]


def test_empty_and_null_bodies_are_empty_objects(client):
    assert client.raw("/v2.12/server.info", body=b"").status_code == 200
    assert client.raw("/v2.12/server.info", body=b"null").status_code == 200


def test_a_compressed_request_body_is_refused_with_415(client):
    result = client.raw("/v2.12/server.info", body=gzip.compress(b"{}"), headers={"Content-Encoding": "gzip"})
    assert result.status_code == 415
    assert codes(result.json["meta"]) == (415, 0)


def test_a_huge_body_is_refused_with_413_without_reading_it_all(client, app):
    limit = app.modelreg_state.max_json_body
    result = client.raw("/v2.12/server.info", body=b" " * (limit + 10))
    assert codes(result.json["meta"]) == (413, 0)


def test_validation_names_the_missing_field(client):
    meta = client.error("auth.revoke_credentials", {}, version="2.1")
    assert codes(meta) == (400, 12)
    assert "'access_key'" in meta["result_msg"] and "required" in meta["result_msg"]


def test_validation_names_the_mistyped_field(client):
    meta = client.error("auth.login", {"expiration_sec": "soon"}, version="2.1")
    assert codes(meta) == (400, 12)
    assert "expiration_sec" in meta["result_msg"]


def test_options_is_answered_for_cors(anon):
    assert anon.raw("/v2.13/models.get_all", method="OPTIONS").status_code == 200


def test_the_reply_is_compact_utf8_json(anon):
    result = anon.raw("/debug.ping", body={"name": "caf\u00e9"})
    assert "caf\u00e9".encode() in result.content and b": " not in result.content
    assert json.loads(result.content)["data"]["name"] == "caf\u00e9"


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "abc", "uri": "", "ui_cache": {"a\\u0000b": 1}}',
        b'{"name": "abc", "uri": "", "ui_cache": {"x": 18446744073709551616}}',
        b'{"name": "abc\\ud800", "uri": ""}',
    ],
)
def test_values_no_document_store_can_keep_are_a_400_naming_the_field(client, body):
    meta = client.raw("/v2.13/models.create", body=body).json["meta"]
    assert codes(meta) == (400, 12)
    assert "error for field" in meta["result_msg"]


def test_a_huge_number_in_the_query_string_is_a_400(client):
    assert codes(
        client.raw("/v2.13/models.get_all", query_string="page_size=99999999999999999999999").json["meta"]
    ) == (
        400,
        12,
    )


def test_a_batch_body_that_is_not_utf8_is_a_clear_400(client):
    result = client.raw(
        "/v2.1/events.add_batch", body=b"\xef\x46\x2d", headers={"Content-Type": "application/json-lines"}
    )
    assert codes(result.json["meta"]) == (400, 0) and "UTF-8" in result.json["meta"]["result_msg"]
