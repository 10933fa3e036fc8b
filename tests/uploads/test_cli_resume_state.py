"""The `modelreg` command line's resume state end to end against gunicorn: a file replaced by other bytes
with the same size and modification time never resumes with the old file's sha256, and a state file the
command did not write is ignored with a notice, never trusted or crashed on."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
import requests

from client import transfer
from tests.uploads.test_cli_e2e import cli as cli  # noqa: F401 - a fixture

pytestmark = pytest.mark.e2e


def _state_at(source, tmp_path, monkeypatch):
    """Where an interrupted run on `source` as it is now left its state (the `cli` fixture's cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    state = transfer.state_path(source)
    state.parent.mkdir(parents=True, exist_ok=True)
    return state


def test_a_replaced_file_with_the_old_times_is_hashed_again(cli, live_server, tmp_path, monkeypatch):  # noqa: F811
    source, other = tmp_path / "w.bin", tmp_path / "other.bin"
    source.write_bytes(os.urandom(4096))
    first = json.loads(cli("--json", "upload", str(source), "--name", "stale-demo").stdout)
    old_sha = first["file"]["sha256"]
    assert first["version"] == 1
    # an interrupted run on these bytes left the sha256 it had computed
    _state_at(source, tmp_path, monkeypatch).write_text(json.dumps({"sha256": old_sha}))
    before = source.stat()
    other.write_bytes(os.urandom(4096))
    subprocess.run(["touch", "-r", str(source), str(other)], check=True)
    subprocess.run(["cp", "-p", str(other), str(source)], check=True)
    after = source.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    new_sha = hashlib.sha256(source.read_bytes()).hexdigest()
    second = json.loads(cli("--json", "upload", str(source), "--name", "stale-demo").stdout)
    assert second["version"] == 2 and second["file"]["sha256"] == new_sha != old_sha
    shown = requests.post(f"{live_server.url}/v2.13/models.get_by_id", json={"model": second["model"]},
                          auth=(live_server.access_key, live_server.secret_key), timeout=30).json()["data"]["model"]
    assert shown["uri"] == second["file"]["uri"] != first["file"]["uri"]
    back = tmp_path / "back.bin"
    assert json.loads(cli("--json", "download", second["model"], "-o", str(back)).stdout)["verified"]
    assert back.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("kept", ["[]", "null", '"x"', '{"sha256": "zz"}', '{"sha256": 5}',
                                  '{"sha256": "' + "a" * 64 + '", "started": "all"}', "{not json"])
def test_a_state_file_the_command_did_not_write_is_started_over(cli, tmp_path, monkeypatch, kept):  # noqa: F811
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3000))
    state = _state_at(source, tmp_path, monkeypatch)
    state.write_text(kept)
    done = cli("--json", "upload", str(source))
    assert json.loads(done.stdout)["file"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    notices = [line for line in done.stderr.splitlines() if "ignoring" in line]
    assert len(notices) == 1 and str(state) in notices[0] and "Traceback" not in done.stderr
    assert not state.exists()  # started over, then cleared once complete


def test_a_state_naming_another_files_upload_is_started_over(cli, live_server, tmp_path, monkeypatch):  # noqa: F811
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3000))
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    foreign = requests.post(f"{live_server.url}/v2.99/uploads.start", json={"size": 10}, timeout=30,
                            auth=(live_server.access_key, live_server.secret_key)).json()["data"]["upload"]
    state = _state_at(source, tmp_path, monkeypatch)
    state.write_text(json.dumps({"sha256": sha, "upload": foreign, "started": []}))
    done = cli("--json", "upload", str(source))
    uploaded = json.loads(done.stdout)
    assert uploaded["file"]["sha256"] == sha and uploaded["upload"] != foreign and not uploaded["resumed"]
    assert len([line for line in done.stderr.splitlines() if "ignoring" in line]) == 1
    assert not state.exists()
