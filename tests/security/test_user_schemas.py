"""User regular expressions and JSON Schemas: a model card's signature is checked once when written
(local references only, patterns vetted, size and depth bounded) and validated without network, with
time-bounded matching and one deadline, so every hostile case is a fast 4xx naming the field; card URLs
are checked alike on every write; models.create's 2.99 reply carries the version."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from database.collections import models_db
from database.errors import PatternTimeout
from database.query import user_regex
from tests.helpers import codes

X = "2.99"
FAST = 10.0  # seconds: every hostile call below is answered within this (unbounded, each would take hours)


@pytest.fixture
def app_config(app_config):
    app_config.put("user_schemas.validate_sec", 0.5)
    return app_config


@pytest.fixture
def listener():
    """A local HTTP server that records every request it receives (none may arrive)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            seen.append(self.path)
            body = json.dumps({"type": "integer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _timed(fn, *args, **kwargs):
    started = time.monotonic()
    result = fn(*args, **kwargs)
    elapsed = time.monotonic() - started
    assert elapsed < FAST, f"took {elapsed:.2f} s"
    return result


def _model(client, name="signed", **fields) -> str:
    return client.ok("models.create", {"name": name, "uri": "s3://b/m.pt", **fields}, version=X)["id"]


def _store_signature(db, model_id: str, schema) -> None:
    """Writes an input signature straight into the database, past the API's checks (as a schema stored
    before they existed would be)."""
    stored = json.dumps(schema) if not isinstance(schema, str) else schema
    assert db[models_db.MODELS].update_one({"_id": model_id}, {"$set": {"signature": {"input": stored}}}).matched_count


def _validate_error(client, model_id: str, data) -> dict:
    return _timed(client.error, "models.validate_input", {"model": model_id, "data": data}, version=X)


# --- regular expressions ---------------------------------------------------------------------------


def test_a_backtracking_signature_pattern_is_refused_when_written(client):
    signature = {"input": {"type": "string", "pattern": "^(a+)+$"}}
    meta = _timed(client.error, "models.create", {"name": "redos", "uri": "u", "signature": signature}, version=X)
    assert codes(meta) == (400, 21) and "signature.input" in meta["result_msg"] and "pattern" in meta["result_msg"]
    model_id = _model(client)
    meta = _timed(client.error, "models.edit", {"model": model_id, "signature": signature}, version=X)
    assert codes(meta) == (400, 21) and "signature.input" in meta["result_msg"]
    nested = {"input": {"type": "object", "patternProperties": {"^(\\w+\\s?)+$": {}}}}
    meta = _timed(client.error, "models.edit", {"model": model_id, "signature": nested}, version=X)
    assert codes(meta) == (400, 21) and "patternProperties" in meta["result_msg"]


def test_a_backtracking_pattern_stored_in_the_database_is_answered_fast(client, db):
    model_id = _model(client)
    _store_signature(db, model_id, {"type": "string", "pattern": "^(a+)+$"})
    meta = _validate_error(client, model_id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaa!")
    assert codes(meta) == (400, 21) and "signature.input" in meta["result_msg"]
    _store_signature(db, model_id, {"properties": {"k": {"$ref": "#/$defs/p"}}, "$defs": {"p": {"pattern": "(a|a)*b"}}})
    meta = _validate_error(client, model_id, {"k": "a" * 40})
    assert codes(meta) == (400, 21)


def test_a_slow_match_of_a_vetted_pattern_runs_out_of_time(client):
    # a.*b.*c passes the structural check but is quadratic in the subject's length
    model_id = _model(client, signature={"input": {"type": "string", "pattern": "a.*b.*c"}})
    meta = _validate_error(client, model_id, "ab" * 20000)
    assert codes(meta) == (400, 12) and "signature.input" in meta["result_msg"] and "longer than" in meta["result_msg"]
    assert client.ok("models.validate_input", {"model": model_id, "data": "a-b-c"}, version=X)["valid"] is True


def test_the_matcher_bounds_time_and_vets():
    started = time.monotonic()
    with pytest.raises(PatternTimeout):
        user_regex.search("a.*b.*c", "ab" * 20000, field="f", timeout=0.2)
    assert time.monotonic() - started < 5.0  # the timeout is 0.2 s; unbounded, this match would not end today
    assert user_regex.search("^[a-z]+-\\d+$", "abc-12", field="f", timeout=0.2)
    with pytest.raises(Exception, match="backtrack"):
        user_regex.search("^(a+)+$", "a", field="f", timeout=0.2)


# --- references and dialects -------------------------------------------------------------------------


def test_remote_references_are_refused_when_written_and_never_fetched(client, listener):
    base, seen = listener
    model_id = _model(client)
    for schema in ({"$ref": f"{base}/x.json"}, {"$ref": "file:///etc/passwd"},
                   {"properties": {"a": {"$dynamicRef": f"{base}/x.json#meta"}}},
                   {"$schema": f"{base}/meta.json"}, {"properties": {"a": {"$id": f"{base}/a.json"}}},
                   {"$id": f"{base}/", "$ref": "x.json"}):
        meta = _timed(client.error, "models.create", {"name": "ssrf", "uri": "u", "signature": {"input": schema}},
                      version=X)
        assert codes(meta)[0] == 400 and "signature.input" in meta["result_msg"], schema
        meta = _timed(client.error, "models.edit", {"model": model_id, "signature": {"output": schema}}, version=X)
        assert codes(meta)[0] == 400 and "signature.output" in meta["result_msg"], schema
    assert seen == []


def test_remote_references_stored_in_the_database_are_never_fetched(client, db, listener):
    base, seen = listener
    model_id = _model(client)
    for schema in ({"$ref": f"{base}/x.json"}, {"properties": {"a": {"$ref": "file:///etc/passwd"}}},
                   {"$id": f"{base}/", "$ref": "x.json"}):
        _store_signature(db, model_id, schema)
        meta = _validate_error(client, model_id, {"a": 1})
        assert codes(meta) == (400, 12) and "signature.input" in meta["result_msg"], schema
    # a root $id naming a remote document is only a name: a reference that misses stays local
    _store_signature(db, model_id, {"$id": f"{base}/x.json", "properties": {"a": {"$ref": "#/$defs/missing"}}})
    meta = _validate_error(client, model_id, {"a": 1})
    assert codes(meta) == (400, 12) and "reference" in meta["result_msg"]
    assert seen == []


def test_local_references_still_work(client):
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"count": {"type": "integer", "minimum": 0}},
        "type": "object",
        "properties": {"n": {"$ref": "#/definitions/count"}, "m": {"$ref": "#/definitions/count"}},
        "required": ["n"],
    }
    model_id = _model(client, signature={"input": schema})
    assert client.ok("models.validate_input", {"model": model_id, "data": {"n": 3, "m": 0}}, version=X)["valid"]
    bad = client.ok("models.validate_input", {"model": model_id, "data": {"n": -1, "m": "x"}}, version=X)
    assert bad["valid"] is False and sorted(e["path"] for e in bad["errors"]) == ["m", "n"]
    model = client.ok("models.get_by_id", {"model": model_id}, version=X)["model"]
    assert model["signature"]["input"] == schema


def test_safe_patterns_still_validate(client):
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}-\\d+$"}},
              "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False}
    model_id = _model(client, signature={"input": schema})
    good = client.ok("models.validate_input", {"model": model_id, "data": {"code": "ABC-12", "x-a": 1}}, version=X)
    assert good == {"valid": True, "errors": []}
    bad = client.ok("models.validate_input", {"model": model_id, "data": {"code": "abc", "x-a": "s", "other": 1}},
                    version=X)
    assert sorted(e["path"] for e in bad["errors"]) == ["", "code", "x-a"]


# --- work bounds ---------------------------------------------------------------------------------


def test_exponential_and_endless_local_references_run_out_of_time(client):
    defs = {f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(40)}
    defs["d40"] = {"type": "string"}
    model_id = _model(client, signature={"input": {"$defs": defs, "$ref": "#/$defs/d0"}})
    meta = _validate_error(client, model_id, "x")
    assert codes(meta) == (400, 12) and "longer than" in meta["result_msg"]



ENDLESS = [{"$ref": "#"}, {"not": {"$ref": "#"}}, {"if": {"$ref": "#"}, "then": {"$ref": "#"}},
           {"anyOf": [{"type": "string"}, {"$ref": "#"}]},
           {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}},
            "$ref": "#/$defs/a"},
           {"$defs": {"a": {"$anchor": "here", "oneOf": [{"$ref": "#here"}]}}, "$ref": "#/$defs/a"}]


@pytest.mark.parametrize("schema", ENDLESS, ids=range(len(ENDLESS)))
def test_a_schema_that_loops_on_the_same_data_is_refused_written_or_stored(client, db, schema):
    """Validating against a schema whose references lead back to themselves without going into the data
    never ends; some such loops made the reference resolver fail in a way that ended the worker process.
    They are refused when written, and when found stored."""
    meta = _timed(client.error, "models.create", {"name": "looping", "uri": "u", "signature": {"input": schema}},
                  version=X)
    assert codes(meta) == (400, 12) and "signature.input" in meta["result_msg"] and "itself" in meta["result_msg"]
    model_id = _model(client, "stored-loop")
    _store_signature(db, model_id, schema)
    meta = _validate_error(client, model_id, "x")
    assert codes(meta) == (400, 12) and "signature.input" in meta["result_msg"]


def test_a_tree_schema_that_descends_into_the_data_still_validates(client):
    tree = {"type": "object", "properties": {"name": {"type": "string"},
                                             "children": {"type": "array", "items": {"$ref": "#"}}}}
    model_id = _model(client, "tree", signature={"input": tree})
    data = {"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]}
    assert client.ok("models.validate_input", {"model": model_id, "data": data}, version=X)["valid"] is True
    bad = client.ok("models.validate_input", {"model": model_id, "data": {"children": [{"name": 1}]}}, version=X)
    assert [e["path"] for e in bad["errors"]] == ["children/0/name"]


def test_size_depth_and_unevaluated_pattern_properties_are_bounded(client):
    deep: dict = {"type": "string"}
    for _ in range(100):
        deep = {"items": deep}
    large = {"enum": ["x" * 1000] * 40}
    mixed = {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    for schema, words in ((deep, "nested deeper"), (large, "larger than"), (mixed, "unevaluatedProperties")):
        meta = _timed(client.error, "models.create", {"name": "big", "uri": "u", "signature": {"input": schema}},
                      version=X)
        assert codes(meta) == (400, 12) and "signature.input" in meta["result_msg"] and words in meta["result_msg"]


# --- card URLs and the create reply ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["license_url", "paper_url", "source_url"])
def test_card_urls_are_refused_on_every_write(client, field):
    model_id = _model(client, **{field: "https://example.org/ok"})
    for url in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "JavaScript://x.org/%0aalert(1)",
                "https:///no-host", " https://x.org", "ftp://x.org/f"):
        meta = client.error("models.create", {"name": "card", "uri": "u", field: url}, version=X)
        assert codes(meta) == (400, 12) and field in meta["result_msg"], url
        meta = client.error("models.edit", {"model": model_id, field: url}, version=X)
        assert codes(meta) == (400, 12) and field in meta["result_msg"], url
        # models.update writes no card field: the value is ignored, never stored
        client.ok("models.update", {"model": model_id, field: url, "comment": url}, version=X)
        model = client.ok("models.get_by_id", {"model": model_id}, version=X)["model"]
        assert model[field] == "https://example.org/ok" and model["comment"] == url


def test_good_card_urls_are_stored_on_edit(client):
    model_id = _model(client)
    client.ok("models.edit", {"model": model_id, "license_url": "HTTPS://example.org/MIT"}, version=X)
    assert client.ok("models.get_by_id", {"model": model_id}, version=X)["model"]["license_url"] == \
        "HTTPS://example.org/MIT"


def test_create_replies_with_the_version(client):
    first = client.ok("models.create", {"name": "numbered", "uri": "u"}, version=X)
    second = client.ok("models.create", {"name": "numbered", "uri": "u"}, version=X)
    assert (first["version"], second["version"]) == (1, 2)
    assert "version" not in client.ok("models.create", {"name": "numbered", "uri": "u"}, version="2.13")
