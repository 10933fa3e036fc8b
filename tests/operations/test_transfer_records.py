"""Transfers of the files-server protocol (/files) are counted and logged like RPC calls: a fixed endpoint
label per method (never the path), their bytes in and out in the call's log line, the trx as a reply
header, and no secret in the line."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from tests.files.test_files_route import upload
from tests.helpers import call_log_in


@pytest.fixture
def json_log(tmp_path):
    with call_log_in(tmp_path, "json") as path:
        yield path


def _calls(endpoint: str, status: str) -> float:
    return sum(sample.value for metric in REGISTRY.collect() for sample in metric.samples
               if sample.name == "modelreg_calls_total" and sample.labels.get("endpoint") == endpoint
               and sample.labels.get("status") == status)


def _line(path, trx: str) -> dict:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    found = [line for line in lines if line.get("trx") == trx]
    assert len(found) == 1, found
    return found[0]


def test_uploads_and_downloads_are_counted_and_logged(alice, json_log):
    data = b"weights " * 1000
    counted = {name: _calls(name, "200") for name in ("files.upload", "files.get", "files.delete")}
    sent = upload(alice, "/proj/t.1/models/w.bin", data)
    assert sent.status_code == 200
    got = alice.raw("/files/proj/t.1/models/w.bin", method="GET")
    assert got.status_code == 200 and got.content == data
    gone = alice.raw("/files/proj/t.1/models/w.bin", method="DELETE")
    assert gone.status_code == 200
    for name, before in counted.items():
        assert _calls(name, "200") == before + 1, name
    text = "\n".join(f"{s.name} {s.labels}" for m in REGISTRY.collect() for s in m.samples)
    assert "/proj/t.1" not in text and "w.bin" not in text  # no path in any label

    up = _line(json_log, sent.headers["X-Trx"])
    assert up["endpoint"] == "files.upload" and up["status"] == 200
    assert up["bytes_in"] >= len(data) and up["bytes_out"] == len(sent.content)
    assert up["company"] == alice.identity["company"] and up["user"] == alice.identity["user"]
    assert up["store_ms"] > 0 and up["duration_ms"] > 0
    down = _line(json_log, got.headers["X-Trx"])
    assert down["endpoint"] == "files.get" and down["bytes_out"] == len(data) and down["streamed"] is True
    assert _line(json_log, gone.headers["X-Trx"])["endpoint"] == "files.delete"

    raw = json_log.read_text()
    secret = alice.identity["secret"]
    for leaked in (secret, alice.authorization.split()[1], "Authorization", "w.bin", "weights"):
        assert leaked not in raw


def test_a_refused_transfer_is_counted_with_its_status_and_trx(alice, json_log):
    before = _calls("files.get", "404")
    missing = alice.raw("/files/nothing/here.bin", method="GET", headers={"X-ClearML-Trx": "trx-of-the-client"})
    assert missing.status_code == 404 and missing.headers["X-Trx"] == "trx-of-the-client"
    assert missing.json["meta"]["trx"] == "trx-of-the-client"
    assert _calls("files.get", "404") == before + 1
    line = _line(json_log, "trx-of-the-client")
    assert line["status"] == 404 and line["result_code"] == 404 and line["bytes_out"] == len(missing.content)


def test_registry_page_loads_are_counted_under_one_label(client, json_log):
    before, missing = _calls("registry.page", "200"), _calls("registry.page", "404")
    page = client.raw("/registry/", method="GET")
    assert page.status_code == 200 and client.raw("/registry/nothing.js", method="GET").status_code == 404
    assert _calls("registry.page", "200") == before + 1 and _calls("registry.page", "404") == missing + 1
    line = _line(json_log, page.headers["X-Trx"])
    assert line["endpoint"] == "registry.page" and line["bytes_out"] == len(page.content) and line["user"] is None
