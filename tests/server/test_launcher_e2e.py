"""`python -m server serve` (what ./run.sh runs) as a user runs it: embedded MongoDB and S3, first admin,
gunicorn; SIGTERM stops everything; a restart on the same data folder keeps the data and the admin."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from server.process.embedded import free_port, port_is_free

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY_LINE = re.compile(r"access key: (\S+)\s+secret key: (\S+)")


class Served:
    """A running launcher; its output is collected by a thread (a full pipe would block it)."""

    def __init__(self, data_dir: Path, env: dict):
        self.port = int(env["MODELREG_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_serving(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"launcher exited with {self.process.returncode}:\n{self.output}")
            if "modelreg: serving" in self.output:
                return
            time.sleep(0.2)
        raise AssertionError(f"launcher did not serve in {timeout} s:\n{self.output}")

    def descendants(self) -> set[int]:
        return _descendants(self.process.pid)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill_all(self) -> None:
        """Clean-up after a failed test: nothing may outlive it."""
        pids = self.descendants()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children_by_parent(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a parent that does not reap."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def launch(tmp_path):
    """Starts launchers that share one data folder and one set of ports; kills leftovers afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(
        MODELREG_DATA_DIR=str(tmp_path / "data"),
        MODELREG_PORT=str(free_port()),
        MODELREG_MONGO_EMBEDDED_PORT=str(free_port()),
        MODELREG_S3_EMBEDDED_PORT=str(free_port()),
        MODELREG_SERVER_WORKERS="1",
    )
    started: list[Served] = []

    def start() -> Served:
        served = Served(tmp_path / "data", env)
        started.append(served)
        served.wait_until_serving()
        return served

    start.env = env
    yield start
    for served in started:
        served.kill_all()


def _call(url: str, endpoint: str, data: dict, auth=None, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/api/v2.13/{endpoint}", json=data, auth=auth, headers=headers, timeout=30)


def test_serve_stop_and_restart_keeps_data_and_admin(launch):
    first = launch()
    assert requests.get(first.url + "/debug.ping", timeout=10).status_code == 200
    match = KEY_LINE.search(first.output)
    assert match, first.output
    key, secret = match.groups()
    assert re.fullmatch(r"[A-Z0-9]{20}", key)

    login = requests.post(first.url + "/auth.login", auth=(key, secret), json={}, timeout=30)
    assert login.status_code == 200, login.text
    token = login.json()["data"]["token"]
    assert token
    created = _call(first.url, "models.create", {"name": "kept-model", "uri": "s3://b/kept.pt"}, token=token)
    assert created.status_code == 200, created.text
    model_id = created.json()["data"]["id"]

    data_dir = first.data_dir
    # ./run.sh serving: the call's line in the data folder's call log, metrics from the launcher's gunicorn
    assert created.headers["X-Trx"] in (data_dir / "logs" / "calls.log").read_text()
    assert "modelreg_calls_total" in requests.get(first.url + "/metrics", timeout=10).text
    assert len(list((data_dir / "metrics").iterdir())) == 1
    for name in ("admin_credentials.json", "token_secret", "s3_credentials.json"):
        assert (data_dir / name).stat().st_mode & 0o077 == 0, name
    assert key in (data_dir / "admin_credentials.json").read_text()

    children = first.descendants()
    commands = " ".join(_command(pid) for pid in children)
    assert "secantusd-py" in commands and "weed" in commands and "gunicorn" in commands
    assert first.terminate() == 0, first.output
    assert not [pid for pid in children if _running(pid)], [_command(pid) for pid in children if _running(pid)]
    assert list((data_dir / "metrics").iterdir()) == []  # gunicorn removed its metric files as it exited
    env = launch.env
    for name in ("MODELREG_PORT", "MODELREG_MONGO_EMBEDDED_PORT", "MODELREG_S3_EMBEDDED_PORT"):
        assert port_is_free(int(env[name])), name

    second = launch()
    assert "secret key:" not in second.output and secret not in second.output, second.output
    # the same token secret signs: the first run's token still works; so does the key pair
    got = _call(second.url, "models.get_by_id", {"model": model_id}, token=token)
    assert got.status_code == 200, got.text
    assert got.json()["data"]["model"]["name"] == "kept-model"
    assert _call(second.url, "models.get_by_id", {"model": model_id}, auth=(key, secret)).status_code == 200
    assert second.terminate() == 0, second.output


def test_a_dying_child_stops_the_rest_with_a_clear_message(launch):
    served = launch()
    children = served.descendants()
    weed = next(pid for pid in children if "weed" in _command(pid))
    os.kill(weed, signal.SIGKILL)
    code = served.process.wait(60)
    served._reader.join(5)
    assert code != 0
    assert "weed mini exited unexpectedly" in served.output, served.output
    assert str(served.data_dir / "logs" / "s3.log") in served.output
    assert not [pid for pid in children if _running(pid)]


def test_second_launcher_on_the_same_data_folder_is_refused(launch):
    first = launch()
    env = dict(launch.env, MODELREG_PORT=str(free_port()), MODELREG_MONGO_EMBEDDED_PORT=str(free_port()),
               MODELREG_S3_EMBEDDED_PORT=str(free_port()))
    other = subprocess.run([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert other.returncode == 1
    assert "another modelreg is running" in other.stderr
    assert requests.get(first.url + "/debug.ping", timeout=10).status_code == 200
