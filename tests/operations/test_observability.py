"""Metrics, call log lines and probes of a real gunicorn (2 workers) with a database of its own, which the
last test stops and starts again."""

from __future__ import annotations

import json
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from server.process.embedded import free_port, start_mongo
from tests.live_support import start_live_server

# one worker builds the module's servers (--dist loadgroup), not every worker that gets one of its tests
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("observability")]

METRICS_TOKEN = "metrics-" + secrets.token_hex(8)
PLANTED = "planted-" + secrets.token_hex(6)  # sent as a password, a cookie and a body value


@pytest.fixture(scope="module")
def served(tmp_path_factory, s3):
    folder = tmp_path_factory.mktemp("ops")
    port = free_port()
    mongo = start_mongo(folder / "mongo", port, folder / "mongo.log")
    server = start_live_server(mongo.address, folder, {
        "MODELREG_S3_ENDPOINT": s3.endpoint, "MODELREG_S3_ACCESS_KEY": s3.access_key,
        "MODELREG_S3_SECRET_KEY": s3.secret_key, "MODELREG_S3_BUCKET": s3.bucket,
        "MODELREG_DATA_DIR": str(folder / "data"), "MODELREG_METRICS_TOKEN": METRICS_TOKEN,
        "MODELREG_MONGO_TIMEOUT_MS": "1000", "MODELREG_PROBES_DEADLINE_SEC": "1",
    })
    server.data_dir = folder / "data"
    server.mongo = {"handle": mongo, "folder": folder / "mongo", "port": port, "log": folder / "mongo.log"}
    yield server
    server.stop(drop_database=False)
    # the module's own database server goes with its data: a second for a clean stop, then killed (a
    # stop that waited 30 s for its shutdown was once seen on a loaded machine)
    server.mongo["handle"].stop(timeout=1)


def _rpc(server, endpoint, data=None, **kwargs):
    # a new connection each time (no Session), so gunicorn hands the calls to both workers
    return requests.post(f"{server.url}/{endpoint}", json=data or {}, auth=(server.access_key, server.secret_key),
                         timeout=30, **kwargs)


def _calls_counted(text: str, endpoint: str, status: str) -> float:
    pattern = re.compile(r'^modelreg_calls_total\{(.*)\} (\S+)$', re.M)
    total = 0.0
    for labels, value in pattern.findall(text):
        if f'endpoint="{endpoint}"' in labels and f'status="{status}"' in labels:
            total += float(value)
    return total


def _log_lines(server) -> list[dict]:
    return [json.loads(line) for line in (server.data_dir / "logs" / "calls.log").read_text().splitlines()]


def test_metrics_count_the_calls_of_both_workers(served):
    before = requests.get(served.url + "/metrics", timeout=10)
    assert before.status_code == 200 and before.headers["Content-Type"].startswith("text/plain")
    counted = _calls_counted(before.text, "server.info", "200")
    trxs, pids, made = set(), set(), 0
    # under load the second worker may still be starting: call, 16 at once, until both have served some
    give_up = time.monotonic() + 180
    with ThreadPoolExecutor(8) as pool:
        while len(pids) < 2 and time.monotonic() < give_up:
            replies = list(pool.map(lambda _: _rpc(served, "server.info"), range(16)))
            assert all(reply.status_code == 200 for reply in replies)
            made += len(replies)
            trxs.update(reply.headers["X-Trx"] for reply in replies)
            pids = {line["pid"] for line in _log_lines(served) if line.get("trx") in trxs}
    assert len(pids) == 2, pids
    after = requests.get(served.url + "/metrics", timeout=10).text
    # one worker answered /metrics, and it counts the calls of both
    assert _calls_counted(after, "server.info", "200") == counted + made
    assert "modelreg_call_duration_seconds_bucket" in after and "modelreg_call_database_seconds_sum" in after
    assert "modelreg_transfers_in_flight" in after and "company" not in after


def test_a_metrics_file_still_being_made_does_not_fail_the_scrape(served):
    """prometheus-client creates a process's file, then sizes it: a scrape in between, or after a process
    killed in between, met an empty file, and the library's collector failed the whole scrape on it."""
    (folder,) = [f for f in (served.data_dir / "metrics").iterdir() if f.is_dir()]
    empty = folder / "counter_999999999.db"  # named as a process's file, never sized
    empty.touch()
    assert _rpc(served, "server.info").status_code == 200
    try:
        scraped = requests.get(served.url + "/metrics", timeout=10)
        assert scraped.status_code == 200, scraped.text[:500]
        assert _calls_counted(scraped.text, "server.info", "200") > 0
    finally:
        empty.unlink()


def test_metrics_away_from_loopback_need_the_token(served):
    forwarded = {"X-Forwarded-For": "203.0.113.9"}  # what a proxy in front adds
    assert requests.get(served.url + "/metrics", headers=forwarded, timeout=10).status_code == 401
    wrong = {**forwarded, "Authorization": "Bearer nope"}
    assert requests.get(served.url + "/metrics", headers=wrong, timeout=10).status_code == 401
    right = {**forwarded, "Authorization": f"Bearer {METRICS_TOKEN}"}
    assert "modelreg_calls_total" in requests.get(served.url + "/metrics", headers=right, timeout=10).text


def test_a_failed_sign_in_is_counted_and_unknown_paths_have_one_label(served):
    text = requests.get(served.url + "/metrics", timeout=10).text
    before = _calls_counted(text, "(unknown)", "404")
    for name in ("nothing.here", "neither.this"):
        assert requests.post(f"{served.url}/{name}", json={}, timeout=10).status_code == 404
    text = requests.get(served.url + "/metrics", timeout=10).text
    assert _calls_counted(text, "(unknown)", "404") == before + 2 and "nothing.here" not in text


def test_each_call_writes_one_line_without_secrets(served):
    login = requests.post(served.url + "/auth.login", json={}, auth=(served.access_key, served.secret_key),
                          cookies={"clearml_token_basic": PLANTED}, timeout=10)
    token = login.json()["data"]["token"]
    made = requests.post(served.url + "/auth.create_credentials", json={"label": PLANTED},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    new_secret = made["data"]["credentials"]["secret_key"]
    refused = requests.post(served.url + "/auth.login", json={"password": PLANTED},
                            auth=(served.access_key, PLANTED), timeout=10)
    created = _rpc(served, "models.create", {"name": "log probe", "uri": "s3://b/k", "comment": PLANTED},
                   headers={"Cookie": f"session={PLANTED}"})
    assert refused.status_code == 401 and created.status_code == 200
    raw = (served.data_dir / "logs" / "calls.log").read_text()
    for secret in (PLANTED, served.secret_key, token, new_secret, "Authorization", "Basic "):
        assert secret not in raw
    lines = {line["trx"]: line for line in _log_lines(served)}
    for reply in (login, refused, created):
        trx = reply.headers["X-Trx"]
        assert trx == reply.json()["meta"]["trx"]
        line = lines[trx]
        assert line["status"] == reply.status_code and line["duration_ms"] >= line["db_ms"] >= 0
        assert set(line) >= {"endpoint", "requested", "served", "company", "user", "result_code", "result_subcode",
                             "bytes_in", "bytes_out", "db_ms", "store_ms"}
    made_line, refused_line = lines[created.headers["X-Trx"]], lines[refused.headers["X-Trx"]]
    assert made_line["company"] == served.company and made_line["endpoint"] == "models.create"
    assert made_line["bytes_out"] == len(created.content) and made_line["db_ops"] > 0
    assert refused_line["result_code"] == 401 and refused_line["user"] is None


def test_readyz_follows_the_database(served):
    assert requests.get(served.url + "/healthz", timeout=10).json() == {"status": "ok"}
    assert requests.get(served.url + "/readyz", timeout=10).json() == {"status": "ready"}
    served.mongo["handle"].stop()
    try:
        reply = _wait_for(served, 503)
        assert set(reply.json()["failed"]) == {"database"}
        assert requests.get(served.url + "/healthz", timeout=10).status_code == 200  # the process still answers
    finally:
        mongo = served.mongo
        mongo["handle"] = start_mongo(mongo["folder"], mongo["port"], mongo["log"])
    assert _wait_for(served, 200).json() == {"status": "ready"}


def _wait_for(server, status: int, limit_sec: float = 60):
    """Polls /readyz until it answers `status` (the driver notices a stopped or restarted server within
    its heartbeat); fails after `limit_sec`."""
    ends = time.monotonic() + limit_sec
    while True:
        reply = requests.get(server.url + "/readyz", timeout=10)
        if reply.status_code == status or time.monotonic() > ends:
            assert reply.status_code == status, reply.text
            return reply
        time.sleep(0.3)
