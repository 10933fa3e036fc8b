"""The `modelreg` command line end to end against gunicorn (2 workers): sign-in profile, upload in
parallel parts as a model's weights, download verified, an upload killed halfway and resumed by a new
process, content sent once, and the documented exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
import requests

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


@pytest.fixture
def cli(live_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "CLEARML_"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))

    def run(*args: str, check_exit: int | None = 0, background: bool = False):
        argv = [sys.executable, "-m", "client.cli", *args]
        if background:
            return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        if check_exit is not None:
            assert done.returncode == check_exit, (args, done.returncode, done.stdout, done.stderr)
        return done

    run("--server", live_server.url, "login", "--access-key", live_server.access_key,
        "--secret-key", live_server.secret_key)
    return run


def _model(live_server, name: str) -> str:
    reply = requests.post(f"{live_server.url}/v2.13/models.create", json={"name": name, "uri": "file:///x"},
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    return reply.json()["data"]["id"]


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
    promoted = cli("--json", "promote", _model(live_server, "to-promote"), check_exit=6)
    assert json.loads(promoted.stdout)["exit"] == 6 and "not available" in promoted.stderr
    assert cli("--server", live_server.url, "login", "--access-key", "NOPE", "--secret-key", "nope",
               check_exit=3).returncode == 3
    assert cli("--profile", "missing", "models", "ls", check_exit=2).returncode == 2
