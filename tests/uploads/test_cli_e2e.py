"""The `modelreg` command line end to end against gunicorn (2 workers): sign-in profile, upload in
parallel parts as a model's weights, download verified, an upload killed halfway and resumed by a new
process, content sent once, promotion requests and their reviews, and the documented exit codes."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from client import transfer
from database import connection
from database.collections import users_db
from server.process.embedded import free_port
from tests.live_support import start_live_server

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024



def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)

@pytest.fixture
def cli(live_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "CLEARML_"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))

    def run(*args: str, check_exit: int | None = 0, background: bool = False, stdin: str | None = None):
        argv = [sys.executable, "-m", "client.cli", *args]
        if background:
            # Ctrl-C (SIGINT) as at a terminal: a suite started in the background of a shell inherits
            # SIGINT ignored, and Python then never turns it into KeyboardInterrupt
            return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    preexec_fn=_interruptible)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, input=stdin)
        if check_exit is not None:
            assert done.returncode == check_exit, (args, done.returncode, done.stdout, done.stderr)
        return done

    run("--server", live_server.url, "login", "--access-key", live_server.access_key,
        f"--secret-key={live_server.secret_key}")
    return run


def _model(live_server, name: str) -> str:
    reply = requests.post(f"{live_server.url}/v2.13/models.create", json={"name": name, "uri": "file:///x"},
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    return reply.json()["data"]["id"]


@contextlib.contextmanager
def _server_without_endpoints():
    """An HTTP server answering every call with a plain 404, as a server without an endpoint does."""
    class NotHere(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the standard library's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotHere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _user(live_server, cli, name: str, role: str = "user") -> str:
    """A user of the live server's company with a sign-in profile of its own; returns the user id."""
    db = connection.connect(live_server.mongo_uri, live_server.database)
    try:
        user = users_db.create_user(db, name, live_server.company, "live", role)
        key, secret = "K" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
        users_db.add_credential(db, user, key, secret)
    finally:
        db.client.close()
    cli("--server", live_server.url, "--profile", name, "login", "--access-key", key, f"--secret-key={secret}")
    return user["_id"]


def _status(live_server, upload: str) -> dict:
    reply = requests.post(f"{live_server.url}/v2.99/uploads.get_status", json={"upload": upload},
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    return reply.json()["data"]


def test_upload_download_and_listing_through_the_command_line(cli, live_server, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(12 * MIB + 17))
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    model = _model(live_server, "cli-model")
    uploaded = json.loads(cli("--json", "upload", str(source), "--model", model, "--parallel", "3",
                              "--part-size", str(5 * MIB)).stdout)
    assert uploaded["file"]["sha256"] == sha and uploaded["model"] == model and uploaded["sent_parts"] == [1, 2, 3]
    shown = json.loads(cli("--json", "models", "show", model).stdout)
    assert shown["uri"] == uploaded["file"]["uri"]
    assert model in [m["id"] for m in json.loads(cli("--json", "models", "ls", "--name", "^cli-model$").stdout)]
    target = tmp_path / "back.bin"
    downloaded = json.loads(cli("--json", "download", model, "-o", str(target)).stdout)
    assert downloaded["verified"] and target.read_bytes() == source.read_bytes()
    # the same content again: nothing is sent
    again = json.loads(cli("--json", "upload", str(source)).stdout)
    assert again["sent_parts"] == [] and again["file"]["sha256"] == sha
    exported = cli("records", "export", "--model", model, "--format", "csv")
    assert exported.stdout == ""


def test_an_upload_by_name_registers_the_next_version(cli, live_server, tmp_path):
    auth = (live_server.access_key, live_server.secret_key)
    project = requests.post(f"{live_server.url}/v2.13/projects.create", json={"name": "cli-registry"}, auth=auth,
                            timeout=30).json()["data"]["id"]
    first, second = tmp_path / "v1.bin", tmp_path / "v2.bin"
    first.write_bytes(os.urandom(6 * MIB + 3))
    second.write_bytes(os.urandom(1000))
    made = json.loads(cli("--json", "upload", str(first), "--name", "cli-named", "--project", project, "--tag", "cli",
                          "--tag", "nightly", "--framework", "PyTorch", "--comment", "first cut").stdout)
    assert made["version"] == 1 and made["file"]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    shown = json.loads(cli("--json", "models", "show", made["model"]).stdout)
    assert (shown["name"], shown["project"], shown["tags"], shown["framework"], shown["comment"]) == (
        "cli-named", project, ["cli", "nightly"], "PyTorch", "first cut")
    assert shown["uri"] == made["file"]["uri"] and shown["file"]["sha256"] == made["file"]["sha256"]
    downloaded = json.loads(cli("--json", "download", made["model"], "-o", str(tmp_path / "back.bin")).stdout)
    assert downloaded["verified"] and (tmp_path / "back.bin").read_bytes() == first.read_bytes()
    text = cli("upload", str(second), "--name", "cli-named", "--project", project).stdout
    listed = json.loads(cli("--json", "versions", "cli-named", "--project", project).stdout)["models"]
    assert [m["version"] for m in listed] == [2, 1] and text.startswith(f"v2  {listed[0]['id']}  ")
    assert f"{listed[1]['id']}  cli-named  v1  " in cli("models", "ls", "--name", "^cli-named$").stdout
    assert cli("alias", listed[0]["id"], "prod").stdout == f"prod -> {listed[0]['id']}  v2  (was unset)\n"
    assert cli("alias", listed[1]["id"], "prod").stdout == f"prod -> {listed[1]['id']}  v1  (was {listed[0]['id']})\n"
    assert cli("alias", listed[0]["id"], "prod", "--delete").stdout == "prod did not name this model\n"
    assert cli("alias", listed[1]["id"], "prod", "--delete").stdout == "prod removed\n"
    # deploying by name: the version an alias names, or the newest
    cli("alias", listed[1]["id"], "prod")
    assert cli("versions", "cli-named", "--project", project).stdout.splitlines()[1].endswith("  [prod]")
    by_alias = json.loads(cli("--json", "download", "--name", "cli-named", "--project", project, "--alias", "prod",
                              "-o", str(tmp_path / "prod.bin")).stdout)
    assert (by_alias["model"], by_alias["version"], by_alias["verified"]) == (listed[1]["id"], 1, True)
    assert (tmp_path / "prod.bin").read_bytes() == first.read_bytes()
    newest = cli("download", "--name", "cli-named", "--project", project, "-o", str(tmp_path / "new.bin")).stdout
    assert newest.startswith(f"{listed[0]['id']}  v2  ") and (tmp_path / "new.bin").read_bytes() == second.read_bytes()
    cli("download", "--name", "cli-named", "--project", project, "--alias", "staging", check_exit=4)
    cli("download", check_exit=2)  # neither an id nor --name
    cli("download", listed[0]["id"], "--alias", "prod", check_exit=2)
    # the model fields go with --name only; --name and --model exclude each other
    assert "--tag, --framework need --name" in cli("upload", str(second), "--tag", "x", "--framework", "F",
                                                   check_exit=2).stderr
    cli("upload", str(second), "--name", "cli-named", "--model", made["model"], check_exit=2)


def test_an_upload_by_name_run_again_after_its_model_was_made_makes_no_second_one(cli, live_server, tmp_path,
                                                                                  monkeypatch):
    """A run interrupted between creating the model and pointing it at the file: the resume state holds the
    model, and the next run completes that one."""
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(2000))
    stored = json.loads(cli("--json", "upload", str(source)).stdout)  # the file is stored, no model yet
    auth = (live_server.access_key, live_server.secret_key)
    made = requests.post(f"{live_server.url}/v2.99/models.create", auth=auth, timeout=30,
                         json={"name": "cli-interrupted", "uri": stored["file"]["uri"]}).json()["data"]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the command line keeps the state
    state = transfer.state_path(source)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"sha256": stored["file"]["sha256"], "upload": stored["upload"], "started": [],
                                 "model": made["id"], "version": made["version"]}))
    again = json.loads(cli("--json", "upload", str(source), "--name", "cli-interrupted").stdout)
    assert (again["model"], again["version"], again["sent_parts"]) == (made["id"], 1, [])
    listed = json.loads(cli("--json", "versions", "cli-interrupted").stdout)["models"]
    assert [m["id"] for m in listed] == [made["id"]]
    shown = json.loads(cli("--json", "models", "show", made["id"]).stdout)
    assert shown["file"]["sha256"] == stored["file"]["sha256"] and not state.exists()


def test_the_change_feed_resumes_from_its_cursor_file_and_follows(cli, live_server, tmp_path):
    cursor_file = tmp_path / "ci" / "cursor"
    cli("changes", "--cursor-file", str(cursor_file), "--kind", "model.created", "--limit", "50")
    caught_up = cursor_file.read_text().strip()
    for name in ("cli-fed-1", "cli-fed-2"):
        _model(live_server, name)
    fed = cli("changes", "--cursor-file", str(cursor_file), "--kind", "model.created", "--limit", "1")
    entries = [json.loads(line) for line in fed.stdout.splitlines()]
    # the live server is shared with other tests of this worker: their models may be listed too
    assert [e["target"]["name"] for e in entries if e["target"]["name"].startswith("cli-fed-")] == [
        "cli-fed-1", "cli-fed-2"]
    assert {e["kind"] for e in entries} == {"model.created"} and int(entries[0]["seq"]) > int(caught_up)
    assert fed.stderr.strip() == f"cursor {entries[-1]['seq']}" and cursor_file.read_text().strip() == str(
        entries[-1]["seq"])
    assert cli("changes", "--cursor-file", str(cursor_file), "--kind", "model.created").stdout == ""

    follower = cli("changes", "--follow", "--cursor", str(entries[-1]["seq"]), "--kind", "model.created",
                   background=True)
    try:
        time.sleep(0.5)
        _model(live_server, "cli-fed-3")
        line, deadline = "", time.monotonic() + 60
        while "cli-fed-3" not in line:  # other tests' models may come first
            ready, _, _ = select.select([follower.stdout], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "the follower printed no entry for the new model within 60 s"
            line = follower.stdout.readline().decode()
            assert line, follower.stderr.read().decode()
        assert json.loads(line)["kind"] == "model.created"
    finally:
        follower.send_signal(signal.SIGINT)
        # read what it still prints: with the pipe full (other tests' models), it could not finish writing
        follower.communicate(timeout=30)
        assert follower.returncode == 130
    # a follower outlives a server it cannot reach; a single read gives up with "unreachable" (exit 7)
    gone_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cli("--server", gone_url, "changes", check_exit=7)
    waiting = cli("--server", gone_url, "changes", "--follow", background=True)
    try:
        time.sleep(3)
        assert waiting.poll() is None, waiting.communicate()
    finally:
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(30) == 130


@contextlib.contextmanager
def _weights_host(weights: bytes):
    """An HTTP server on this host answering /w.bin with `weights` and anything else with 404."""
    class Weights(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            found = self.path == "/w.bin"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(weights) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(weights)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Weights)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_import_by_name_registers_a_version_or_leaves_none(cli, mongo_uri, s3, tmp_path_factory):
    """`import-url URL --name`: on a server allowed to fetch from this host the URL's file becomes a new
    version; a URL it cannot fetch leaves no version of the name behind."""
    importing = start_live_server(mongo_uri, tmp_path_factory.mktemp("importing"), {
        "MODELREG_S3_ENDPOINT": s3.endpoint, "MODELREG_S3_ACCESS_KEY": s3.access_key,
        "MODELREG_S3_SECRET_KEY": s3.secret_key, "MODELREG_S3_BUCKET": s3.bucket,
        "MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true", "MODELREG_IMPORT_ALLOWED_HOSTS": "127.0.0.1"})
    weights = os.urandom(5000)
    try:
        cli("--server", importing.url, "--profile", "importing", "login", "--access-key", importing.access_key,
            f"--secret-key={importing.secret_key}")
        with _weights_host(weights) as host:
            made = json.loads(cli("--profile", "importing", "--json", "import-url", f"{host}/w.bin", "--name",
                                  "cli-imported", "--tag", "hub").stdout)
            assert made["version"] == 1 and made["sha256"] == hashlib.sha256(weights).hexdigest()
            shown = json.loads(cli("--profile", "importing", "--json", "models", "show", made["model"]).stdout)
            assert shown["tags"] == ["hub"] and shown["uri"] == made["uri"] != f"{host}/w.bin"
            failed = cli("--profile", "importing", "import-url", f"{host}/missing.bin", "--name", "cli-not-imported",
                         check_exit=1)
            assert "models.import_url" in failed.stderr
            cli("--profile", "importing", "import-url", made["model"], f"{host}/w.bin", "--name", "x", check_exit=2)
        left = json.loads(cli("--profile", "importing", "--json", "versions", "cli-not-imported").stdout)
        assert left["models"] == []
    finally:
        importing.stop()


def test_records_imported_from_a_file_and_from_stdin_come_back_out(cli, live_server, tmp_path):
    model = _model(live_server, "cli-recorded")
    lines = [json.dumps({"timestamp": f"2025-01-01T00:00:0{i}Z", "site": "north", "data": {"v": i}}) for i in range(4)]
    lines.insert(2, json.dumps({"site": 5}))  # refused: a site is text
    lines.insert(3, "")  # a blank line is skipped (and counted in the line numbers after it)
    source = tmp_path / "records.ndjson"
    source.write_text("\n".join(lines) + "\n")
    refused = cli("records", "import", str(source), "--model", model, check_exit=1)
    assert refused.stdout.startswith("stored 4 of 5 lines\nline 3: ") and "site" in refused.stdout
    piped = json.loads(cli("--json", "records", "import", "-", "--model", model, stdin=lines[0] + "\n").stdout)
    assert (piped["stored"], piped["lines"], piped["refused_count"]) == (1, 1, 0)
    exported = [json.loads(line) for line in cli("records", "export", "--model", model).stdout.splitlines()]
    assert sorted(r["data"]["v"] for r in exported) == [0, 0, 1, 2, 3]


def test_the_audit_trail_from_the_command_line(cli, live_server):
    model = _model(live_server, "cli-audited")
    requests.post(f"{live_server.url}/v2.13/models.edit", json={"model": model, "comment": "checked"}, timeout=30,
                  auth=(live_server.access_key, live_server.secret_key)).raise_for_status()
    entries = [json.loads(line) for line in cli("audit", "--target", model).stdout.splitlines()]
    assert [e["kind"] for e in entries] == ["model.edited", "model.created"]  # newest first
    assert all(e["target"]["id"] == model for e in entries)
    created = cli("audit", "--target", model, "--kind", "model.created", "--from", entries[-1]["time"]).stdout
    assert [json.loads(line)["kind"] for line in created.splitlines()] == ["model.created"]
    assert cli("audit", "--target", model, "--to", "2000-01-01T00:00:00Z").stdout == ""
    assert cli("audit", "--verify").stdout.endswith("the chain holds\n")
    # an entry edited in the database breaks the chain: an integrity failure (exit 5) naming it
    db = connection.connect(live_server.mongo_uri, live_server.database)
    try:
        where = {"company": live_server.company, "seq": entries[-1]["seq"]}
        kept = db["change_log"].find_one(where)
        db["change_log"].update_one(where, {"$set": {"user": "someone-else"}})
        broken = cli("audit", "--verify", check_exit=5).stdout
        assert broken.endswith(f"broken at seq {entries[-1]['seq']}\n")
    finally:
        db["change_log"].replace_one({"_id": kept["_id"]}, kept)
        db.client.close()
    assert cli("audit", "--verify").stdout.endswith("the chain holds\n")
    # a plain user may not read the trail: exit 3 with the server's reason
    _user(live_server, cli, "cli-not-auditor")
    denied = cli("--profile", "cli-not-auditor", "audit", "--target", model, check_exit=3)
    assert "audit.get_all" in denied.stderr


def test_an_upload_killed_halfway_resumes_in_a_new_process(cli, live_server, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(30 * MIB))
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    first = cli("--json", "upload", str(source), "--parallel", "1", "--part-size", str(5 * MIB), background=True)
    state_dir = tmp_path / "cache" / "modelreg" / "uploads"
    deadline = time.monotonic() + 120
    while True:
        states = [json.loads(p.read_text()) for p in state_dir.glob("*.json")] if state_dir.is_dir() else []
        upload = next((s["upload"] for s in states if s.get("upload")), None)
        if upload and len(_status(live_server, upload)["parts"]) >= 3:
            break
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    first.kill()
    first.wait()
    before = set(_status(live_server, upload)["parts"])
    while True:  # a part whose bytes were all sent before the kill may still be landing
        time.sleep(1)
        now = set(_status(live_server, upload)["parts"])
        if now == before:
            break
        before = now
    assert 3 <= len(before) < 6
    resumed = json.loads(cli("--json", "upload", str(source), "--parallel", "2").stdout)
    assert resumed["resumed"] and resumed["upload"] == upload and resumed["file"]["sha256"] == sha
    assert set(resumed["sent_parts"]) == set(range(1, 7)) - before
    assert not list(state_dir.glob("*.json"))  # the resume state goes once complete


def test_exit_codes_name_what_went_wrong(cli, live_server, tmp_path):
    assert cli("download", "f" * 32, "-o", str(tmp_path / "x"), check_exit=4).returncode == 4
    with _server_without_endpoints() as older_url:  # a server that does not offer what is asked
        older = cli("--server", older_url, "--json", "versions", "some-model", check_exit=6)
    assert json.loads(older.stdout)["exit"] == 6 and "not available" in older.stderr
    assert cli("--server", live_server.url, "login", "--access-key", "NOPE", "--secret-key", "nope",
               check_exit=3).returncode == 3
    # a secret from elsewhere may begin with "-": given as --secret-key=VALUE it is checked, not misread
    assert cli("--server", live_server.url, "login", "--access-key", "NOPE", "--secret-key=-nope",
               check_exit=3).returncode == 3
    assert cli("--profile", "missing", "models", "ls", check_exit=2).returncode == 2


def test_promotion_requests_and_reviews_through_the_command_line(cli, live_server):
    reviewer = _user(live_server, cli, "cli-reviewer")
    _user(live_server, cli, "cli-bystander")
    auth = (live_server.access_key, live_server.secret_key)
    versions = [requests.post(f"{live_server.url}/v2.99/models.create", auth=auth, timeout=30,
                              json={"name": "cli-promoted", "uri": "s3://b/m.pt", "ready": True}).json()["data"]["id"]
                for _ in range(2)]
    protected = requests.post(f"{live_server.url}/v2.99/models.protect_alias", auth=auth, timeout=30,
                              json={"name": "cli-promoted", "alias": "production", "reviewers": {"users": [reviewer]}})
    assert protected.status_code == 200, protected.text

    created = json.loads(cli("--json", "promote", versions[0], "production", "--comment", "better AUC").stdout)
    assert created["state"] == "open"
    # the live server is shared with other tests of this worker: their requests may be listed too
    listed = json.loads(cli("--json", "promote", "ls", "--state", "open").stdout)["promotions"]
    assert {p["state"] for p in listed} == {"open"}
    mine = [p for p in listed if p["id"] == created["id"]]
    assert len(mine) == 1 and mine[0]["reason"] == "better AUC"
    assert created["id"] in cli("promote", "ls").stdout  # the text form: one line a request

    # a user the rule does not name: refused with the server's reason, exit code 3 (not allowed)
    refused = cli("--profile", "cli-bystander", "promote", "review", created["id"], "--approve", check_exit=3)
    assert "promotions.review" in refused.stderr and "review" in refused.stderr.lower()
    refused_json = json.loads(cli("--profile", "cli-bystander", "--json", "promote", "review", created["id"],
                                  "--reject", check_exit=3).stdout)
    assert (refused_json["code"], refused_json["subcode"], refused_json["exit"]) == (403, 1314, 3)

    approved = json.loads(cli("--profile", "cli-reviewer", "--json", "promote", "review", created["id"], "--approve",
                              "--comment", "ok").stdout)
    assert approved["state"] == "approved" and approved["approvals"] == 1
    still_open = json.loads(cli("--json", "promote", "ls", "--state", "open").stdout)["promotions"]
    assert created["id"] not in {p["id"] for p in still_open}
    # reviewing it again: not open any more (exit 1); an unknown request: not found (exit 4)
    cli("--profile", "cli-reviewer", "promote", "review", created["id"], "--reject", check_exit=1)
    cli("--profile", "cli-reviewer", "promote", "review", "f" * 32, "--approve", check_exit=4)

    rejected = json.loads(cli("--json", "promote", versions[1], "production").stdout)
    out = json.loads(cli("--profile", "cli-reviewer", "--json", "promote", "review", rejected["id"], "--reject").stdout)
    assert out["state"] == "rejected"
    # usage errors: exit code 2
    cli("promote", "review", rejected["id"], check_exit=2)  # neither --approve nor --reject
    cli("promote", versions[1], check_exit=2)  # no alias
