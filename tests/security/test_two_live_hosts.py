"""Security against running servers: two gunicorns (2 workers each) on one database, as two hosts behind
a load balancer. A revocation, a deleted user or a throttled key through one is in force through the
other at once; a cross-company admin takeover and guest writes over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from database import connection
from database.collections import users_db
from server.config import ROOT
from server.process.embedded import free_port
from tests.live_support import start_live_server, wait_until_serving

# one worker builds the module's servers (--dist loadgroup), not every worker that gets one of its tests
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("two_live_hosts")]

PER_KEY = 3
WINDOW = 4


class Host:
    def __init__(self, url: str):
        self.url = url

    def call(self, endpoint: str, auth, body: dict | None = None, version: str = "2.13") -> requests.Response:
        headers = {"Authorization": f"Bearer {auth}"} if isinstance(auth, str) else {}
        return requests.post(f"{self.url}/api/v{version}/{endpoint}", json=body or {}, headers=headers,
                             auth=auth if isinstance(auth, tuple) else None, timeout=60)

    def ok(self, endpoint: str, auth, body: dict | None = None, version: str = "2.13") -> dict:
        reply = self.call(endpoint, auth, body, version)
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def codes(self, endpoint: str, auth, body: dict | None = None, version: str = "2.13") -> tuple[int, int]:
        meta = self.call(endpoint, auth, body, version).json()["meta"]
        return meta["result_code"], meta["result_subcode"]


@pytest.fixture(scope="module")
def hosts(mongo_uri, s3, tmp_path_factory):
    """Two servers, one database, one token secret; the first one's admin is made `root` here."""
    logs = tmp_path_factory.mktemp("security-live")
    s3_env = {"MODELREG_S3_ENDPOINT": s3.endpoint, "MODELREG_S3_ACCESS_KEY": s3.access_key,
              "MODELREG_S3_SECRET_KEY": s3.secret_key, "MODELREG_S3_BUCKET": s3.bucket}
    throttle_env = {"MODELREG_AUTH_THROTTLE_WINDOW_SEC": str(WINDOW),
                    "MODELREG_AUTH_THROTTLE_MAX_FAILURES_PER_KEY": str(PER_KEY)}
    first = start_live_server(mongo_uri, logs, {**s3_env, **throttle_env})
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "server.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2",
            "--timeout", "120", "--graceful-timeout", "10", "--no-control-socket"]
    log_path = logs / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        second = subprocess.Popen(argv, cwd=ROOT, env=first.env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", second, log_path)
        db = connection.connect(mongo_uri, first.database)
        root = users_db.create_user(db, "root", first.company, "live", "root")
        users_db.add_credential(db, root, "LIVEROOT", "live-root-secret-0123456789")
        db.client.close()
        yield Host(first.url), Host(f"http://127.0.0.1:{port}"), ("LIVEROOT", "live-root-secret-0123456789"), first
    finally:
        second.terminate()
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
        first.stop()


def _new_user(host: Host, root, name: str, **fields) -> tuple[str, tuple[str, str]]:
    made = host.ok("auth.create_user", root, {"name": name, **fields}, version="2.1")
    return made["id"], (made["credentials"]["access_key"], made["credentials"]["secret_key"])


def test_revoking_through_one_host_ends_tokens_on_the_other(hosts):
    a, b, root, _ = hosts
    _, pair = _new_user(a, root, "revokee")
    extra = a.ok("auth.create_credentials", pair, version="2.1")["credentials"]
    extra_pair = (extra["access_key"], extra["secret_key"])
    token = b.ok("auth.login", extra_pair, version="2.1")["token"]
    assert a.ok("server.info", token, version="2.12") and b.ok("server.info", token, version="2.12")
    assert a.ok("auth.revoke_credentials", pair, {"access_key": extra["access_key"]}, version="2.1")["revoked"] == 1
    for host in (b, a):
        assert host.codes("server.info", token, version="2.12") == (401, 30)
        assert host.codes("auth.login", token, version="2.1") == (401, 30)
        assert host.codes("auth.create_credentials", token, version="2.1") == (401, 30)
        assert host.codes("server.info", extra_pair, version="2.12") == (401, 22)
    assert b.ok("server.info", pair, version="2.12")  # the user's other pair still works


def test_deleting_a_user_through_one_host_ends_its_tokens_on_the_other(hosts):
    a, b, root, _ = hosts
    user_id, pair = _new_user(b, root, "leaver")
    token = a.ok("auth.login", pair, version="2.1")["token"]
    assert b.ok("models.get_all", token)["models"] == []
    assert b.ok("auth.delete_user", root, {"user": user_id}, version="2.1") == {"deleted": 1}
    assert a.codes("models.get_all", token) == (401, 30)


def test_throttling_is_shared_by_the_hosts_and_ends_with_the_window(hosts):
    a, b, root, _ = hosts
    _, pair = _new_user(a, root, "guessed")
    key, secret = pair
    for number in range(PER_KEY):
        assert (a if number % 2 else b).codes("auth.login", (key, "wrong"), version="2.1") == (401, 22)
    refused = a.call("auth.login", (key, "wrong"), version="2.1")
    assert refused.status_code == 429 and refused.json()["meta"]["result_code"] == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW
    assert b.call("auth.login", (key, secret), version="2.1").status_code == 429
    time.sleep(retry_after + 0.5)  # let the window end (the counter is then ignored, and later removed)
    assert b.ok("auth.login", (key, secret), version="2.1")["token"]


def test_an_admin_of_one_company_cannot_take_over_another_over_http(hosts):
    a, b, root, live = hosts
    admin = (live.access_key, live.secret_key)
    private = a.ok("models.create", admin, {"name": "private-model", "uri": "s3://b/p.pt"})["id"]
    _, carol = _new_user(a, root, "carol", company="companyC", company_name="C", role="admin")
    for role in ("admin", "root"):
        assert b.codes("auth.create_user", carol, {"name": "mallory", "company": live.company, "role": role},
                       version="2.1") == (403, 20)
    assert b.codes("auth.get_companies", carol, version="2.1") == (403, 20)
    assert b.codes("models.get_by_id", carol, {"model": private}) == (400, 201)
    names = {c["id"] for c in a.ok("auth.get_companies", root, version="2.1")["companies"]}
    assert {live.company, "companyC"} <= names


def test_guest_reads_but_cannot_write_over_http_files_included(hosts):
    a, b, root, live = hosts
    admin = (live.access_key, live.secret_key)
    _, guest = _new_user(a, root, "gus", company=live.company, role="guest")
    put = requests.post(f"{a.url}/files/sec", files={"/w.bin": ("/w.bin", b"weights")}, auth=admin, timeout=60)
    assert put.status_code == 200, put.text
    got = requests.get(f"{b.url}/files/sec/w.bin", auth=guest, timeout=60)
    assert got.content == b"weights", (put.text, got.text)
    assert requests.head(f"{b.url}/files/sec/w.bin", auth=guest, timeout=60).status_code == 200
    denied = requests.post(f"{b.url}/files/sec", files={"/g.bin": ("/g.bin", b"x")}, auth=guest, timeout=60)
    assert denied.status_code == 403
    assert requests.head(f"{a.url}/files/sec/g.bin", auth=admin, timeout=60).status_code == 404
    assert requests.delete(f"{b.url}/files/sec/w.bin", auth=guest, timeout=60).status_code == 403
    assert b.codes("models.create", guest, {"name": "ggg", "uri": "s3://b/g.pt"}) == (403, 20)
    assert b.codes("projects.create", guest, {"name": "ggg"}) == (403, 20)
    assert b.ok("models.get_all", guest)["models"] is not None
    bad = requests.get(f"{a.url}/files/..\\x", auth=admin, timeout=60)
    assert bad.status_code == 400 and bad.json()["meta"]["result_code"] == 400
