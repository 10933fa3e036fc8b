"""Schema reload: a good set goes live while calls keep flowing; a broken set leaves the old one serving."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from server.config import load_config, schema_dir
from server.contract.reload import GunicornReloader, SchemaWatcher, reload_app
from server.process.embedded import free_port
from tests.helpers import basic
from tests.live_support import start_live_server

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = schema_dir(load_config(env={k: v for k, v in os.environ.items() if k == "MODELREG_SERVER_SCHEMA_DIR"}))

NEW_INFO_VERSION = """
info {
    "2.35": ${info."2.12"} {
        request.properties.verbose { type: boolean }
        response.properties.long_form { type: boolean }
    }
}
"""
BROKEN = '\nreboot {\n  "2.35" { request { type: object }, response { type: object } }\n}\n'


def add_version(folder: Path) -> None:
    with open(folder / "server.conf", "a") as conf:
        conf.write(NEW_INFO_VERSION)


def break_folder(folder: Path) -> None:
    with open(folder / "server.conf", "a") as conf:
        conf.write(BROKEN)


@pytest.fixture
def folders(tmp_path):
    """The shipped set (old), the shipped set plus server.info 2.35 (new), and a broken set."""
    old, new, broken = tmp_path / "old", tmp_path / "new", tmp_path / "broken"
    for folder in (old, new, broken):
        shutil.copytree(SHIPPED, folder)
    add_version(new)
    add_version(broken)
    break_folder(broken)
    return old, new, broken


def hammer(call, stop: threading.Event, results: list, errors: list, pause: float = 0.0) -> None:
    while not stop.is_set():
        try:
            results.append(call())
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            errors.append(repr(exc))
        time.sleep(pause)


@pytest.mark.fresh_database  # reloads the app's schemas
def test_reloads_in_process_under_concurrent_calls(app, client, folders):
    old, new, broken = folders
    stop, results, errors = threading.Event(), [], []

    def info():
        result = client.call("server.info", {"verbose": True}, version="2.35")
        return result.status_code, result.json["meta"]["endpoint"]["actual_version"]

    # in-process callers share the interpreter lock with the reloads: pausing between calls leaves the
    # schema parses time to run (without it, a third of a minute each)
    threads = [threading.Thread(target=hammer, args=(info, stop, results, errors, 0.01)) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        refused = 0
        for round_ in range(3):
            assert reload_app(app, new) == []
            assert app.modelreg_state.registry.resolve("server.info", (2, 35)).version == (2, 35)
            before = app.modelreg_state.registry
            problems = reload_app(app, broken)
            refused += bool(problems)
            assert app.modelreg_state.registry is before  # the broken set never went live
            if round_ < 2:
                assert reload_app(app, old) == []
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert refused == 3
    assert len(results) > 20
    assert {status for status, _ in results} == {200}
    assert {version for _, version in results} <= {"2.12", "2.35"}
    last = client.call("server.info", {"verbose": True}, version="2.35").json["meta"]
    assert last["endpoint"]["actual_version"] == "2.35"


@pytest.mark.fresh_database  # reloads the app's schemas
def test_a_broken_reload_names_the_problem_and_keeps_the_old_set(app, client, folders):
    _, _, broken = folders
    before = app.modelreg_state.registry
    problems = reload_app(app, broken)
    assert [str(p) for p in problems] == ["server.conf:server.reboot:2.35: no handler serves this endpoint"]
    assert app.modelreg_state.registry is before
    assert client.call("server.info", version="2.35").json["meta"]["endpoint"]["actual_version"] == "2.12"


def test_the_watcher_reports_one_change_per_save(tmp_path):
    (tmp_path / "a.conf").write_text("x: 1\n")
    changes = []
    watcher = SchemaWatcher(tmp_path, lambda: changes.append(time.monotonic()), interval=0.1).start()
    try:
        time.sleep(0.3)
        assert changes == []
        (tmp_path / "a.conf").write_text("x: 22\n")
        (tmp_path / "b.conf").write_text("y: 2\n")
        deadline = time.monotonic() + 5
        while not changes and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(changes) == 1
        (tmp_path / "b.conf").unlink()
        deadline = time.monotonic() + 5
        while len(changes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(changes) == 2
    finally:
        watcher.stop()


# --- under gunicorn ---------------------------------------------------------------------------------


@pytest.fixture
def gunicorn_on(mongo_uri, tmp_path):
    """Starts gunicorn (2 workers) serving the schema folder it is given; yields (process, url, auth, log)."""
    started = []

    def start(folder: Path):
        server = start_live_server(mongo_uri, tmp_path, {"MODELREG_SERVER_SCHEMA_DIR": str(folder)}, 30)
        started.append(server)
        return server.process, server.url, basic(server.access_key, server.secret_key), server.log_path

    yield start
    for server in started:
        server.stop()


def _actual_version(url: str, auth: str) -> str:
    reply = requests.post(
        url + "/api/v2.35/server.info", json={"verbose": True}, headers={"Authorization": auth}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["meta"]["endpoint"]["actual_version"]


def _wait_for_version(url: str, auth: str, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_actual_version(url, auth) == version for _ in range(6)):  # both workers
            return
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not serve {version} within {timeout} s")


def _ready_workers(log_path: Path) -> int:
    return log_path.read_text(errors="replace").count("Worker ready (pid:")


def _wait_for_ready_workers(log_path: Path, count: int, timeout: float = 60) -> None:
    """Until `count` workers have loaded the app since gunicorn started: a folder edited before a new
    worker has read it would be what that worker loads."""
    deadline = time.monotonic() + timeout
    while _ready_workers(log_path) < count:
        assert time.monotonic() < deadline, f"only {_ready_workers(log_path)} of {count} workers became ready"
        time.sleep(0.1)


@pytest.mark.e2e
def test_gunicorn_reloads_a_good_set_and_refuses_a_broken_one_under_load(gunicorn_on, tmp_path):
    folder = tmp_path / "live"
    shutil.copytree(SHIPPED, folder)
    proc, url, auth, log_path = gunicorn_on(folder)
    _wait_for_ready_workers(log_path, 2)
    assert _actual_version(url, auth) == "2.12"
    reloader = GunicornReloader(proc.pid, folder)

    stop, results, errors = threading.Event(), [], []
    session_local = threading.local()

    def info():
        session = getattr(session_local, "session", None) or requests.Session()
        session_local.session = session
        reply = session.post(url + "/api/v2.35/server.info", json={"verbose": True}, headers={"Authorization": auth},
                             timeout=60)
        return reply.status_code, reply.json()["meta"]["endpoint"]["actual_version"]

    threads = [threading.Thread(target=hammer, args=(info, stop, results, errors)) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        add_version(folder)
        assert reloader.reload_now()
        _wait_for_version(url, auth, "2.35")
        _wait_for_ready_workers(log_path, 4)  # the two first and the two new ones

        break_folder(folder)
        assert not reloader.reload_now()
        assert reloader.refusals == 1
        time.sleep(1)
        assert _actual_version(url, auth) == "2.35"
        assert proc.poll() is None

        shutil.rmtree(folder)
        shutil.copytree(SHIPPED, folder)
        assert reloader.reload_now()
        _wait_for_version(url, auth, "2.12")
        time.sleep(0.5)
    except BaseException:
        # once under the full suite (2026-12-02) the server stopped accepting connections after the
        # refused reload; its log says why next time
        print(f"gunicorn exit code {proc.poll()}; its log ends with:\n{log_path.read_text(errors='replace')[-6000:]}")
        raise
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert errors == [], errors[:5]
    assert len(results) > 20
    assert {status for status, _ in results} == {200}
    assert {version for _, version in results} == {"2.12", "2.35"}
    assert reloader.reloads == 2


@pytest.mark.e2e
def test_gunicorn_reloads_when_a_watched_file_changes(gunicorn_on, tmp_path):
    folder = tmp_path / "watched"
    shutil.copytree(SHIPPED, folder)
    proc, url, auth, log_path = gunicorn_on(folder)
    _wait_for_ready_workers(log_path, 2)
    reloader = GunicornReloader(proc.pid, folder).start(watch=True, interval=0.2)
    try:
        time.sleep(0.5)
        break_folder(folder)
        deadline = time.monotonic() + 60
        while reloader.refusals == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reloader.refusals == 1 and reloader.reloads == 0
        assert _actual_version(url, auth) == "2.12"

        (folder / "server.conf").write_text((SHIPPED / "server.conf").read_text() + NEW_INFO_VERSION)
        _wait_for_version(url, auth, "2.35")
        assert reloader.reloads == 1
    finally:
        reloader.stop()


# --- through the launcher (./run.sh) ------------------------------------------------------------------


@pytest.fixture
def launched(tmp_path):
    """Starts `python -m server serve` on free ports with its own schema folder; yields a start function."""
    from tests.server.test_launcher_e2e import Served

    running = []

    def start(folder: Path, reload: bool) -> tuple[Served, str]:
        key, secret = "RLADMIN" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
        env.update(
            MODELREG_DATA_DIR=str(tmp_path / "data"),
            MODELREG_PORT=str(free_port()),
            MODELREG_MONGO_EMBEDDED_PORT=str(free_port()),
            MODELREG_S3_EMBEDDED_PORT=str(free_port()),
            MODELREG_SERVER_WORKERS="2",
            MODELREG_SERVER_SCHEMA_DIR=str(folder),
            MODELREG_RELOAD="1" if reload else "0",
            MODELREG_ADMIN_KEY=key,
            MODELREG_ADMIN_SECRET=secret,
        )
        served = Served(tmp_path / "data", env)
        running.append(served)
        served.wait_until_serving()
        return served, basic(key, secret)

    yield start
    for served in running:
        if served.process.poll() is None:
            try:
                served.terminate()
            except subprocess.TimeoutExpired:
                served.kill_all()


def _wait_for_output(served, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in served.output:
        assert time.monotonic() < deadline, f"launcher never said {text!r}:\n{served.output}"
        time.sleep(0.1)


@pytest.mark.e2e
def test_sighup_to_the_launcher_checks_the_folder_before_gunicorn_reloads(launched, tmp_path):
    folder = tmp_path / "services"
    shutil.copytree(SHIPPED, folder)
    served, auth = launched(folder, reload=False)
    gunicorn_log = served.data_dir / "logs" / "gunicorn.log"

    break_folder(folder)  # a worker still starting reads the launcher's checked copy, not this folder
    served.process.send_signal(signal.SIGHUP)
    _wait_for_output(served, "schema reload refused")
    assert "server.conf:server.reboot:2.35: no handler serves this endpoint" in served.output
    time.sleep(1)
    assert "Hang up" not in gunicorn_log.read_text()  # gunicorn was left alone
    assert _actual_version(served.url, auth) == "2.12"

    (folder / "server.conf").write_text((SHIPPED / "server.conf").read_text() + NEW_INFO_VERSION)
    served.process.send_signal(signal.SIGHUP)
    _wait_for_version(served.url, auth, "2.35")
    assert "gunicorn replaces its workers" in served.output
    assert served.terminate() == 0


@pytest.mark.e2e
def test_the_launcher_watches_the_folder_when_reload_is_on(launched, tmp_path):
    folder = tmp_path / "services"
    shutil.copytree(SHIPPED, folder)
    served, auth = launched(folder, reload=True)
    time.sleep(1.5)
    (folder / "server.conf").write_text((SHIPPED / "server.conf").read_text() + NEW_INFO_VERSION)
    _wait_for_version(served.url, auth, "2.35")
    break_folder(folder)  # at once: new workers may still be starting, from the checked copy
    _wait_for_output(served, "schema reload refused")
    assert _actual_version(served.url, auth) == "2.35"
    assert served.terminate() == 0


@pytest.mark.e2e
def test_workers_started_by_a_reload_read_the_checked_copy_not_the_folder(launched, tmp_path):
    """The folder broken right after a good reload was passed on: the workers gunicorn is starting read
    the copy the launcher checked and published, so the server stays up with the good set."""
    folder = tmp_path / "services"
    shutil.copytree(SHIPPED, folder)
    served, auth = launched(folder, reload=False)
    add_version(folder)
    served.process.send_signal(signal.SIGHUP)
    _wait_for_output(served, "gunicorn replaces its workers")
    break_folder(folder)
    _wait_for_version(served.url, auth, "2.35")
    _wait_for_ready_workers(served.data_dir / "logs" / "gunicorn.log", 4)
    assert _actual_version(served.url, auth) == "2.35" and served.process.poll() is None
    live = served.data_dir / "schemas" / "live"
    assert live.is_symlink()
    published = (live / "server.conf").read_text()
    assert '"2.35"' in published and "reboot" not in published
    assert served.terminate() == 0
