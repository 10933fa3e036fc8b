"""Schema reload: a changed schema folder goes live only when the checker finds nothing wrong.

Two ways in:
- In a process that serves the app itself (tests, a single worker): `reload_app(app)` checks the
  folder and installs the new registry with one attribute assignment, so a call in flight keeps the
  registry it resolved and the next call sees the new one.
- Under gunicorn (./run.sh): the launcher keeps a `GunicornReloader`. SIGHUP to the launcher, or a
  changed file when `server.reload` is on, runs `python -m server schema check` in a fresh process
  (which sees new handler code too); a broken set is logged and the running set stays live, a good
  one is passed on as SIGHUP to gunicorn, which starts new workers and lets the old ones finish
  their calls. Workers install no signal handlers of their own: gunicorn owns their signals.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from server.config import ROOT
from server.contract.live_schemas import LiveSchemas
from server.contract.schema_check import check_directory
from server.contract.schema_registry import SchemaProblem

log = logging.getLogger("modelreg.reload")


def reload_registry(state, directory: str | Path, handler_names: Iterable[str] | None = None) -> list[SchemaProblem]:
    """Checks `directory` and installs it into `state` (a server.app.AppState); on any problem the
    state keeps its registry and the problems come back."""
    result = check_directory(directory, state.handlers.keys() if handler_names is None else handler_names)
    if not result.ok:
        for problem in result.problems:
            log.error("schema reload refused: %s", problem)
        return result.problems
    state.install_registry(result.registry)
    log.info("schema reloaded from %s: %s", directory, result.summary())
    return []


def reload_app(app, directory: str | Path | None = None) -> list[SchemaProblem]:
    """`reload_registry` for a server.app.ModelregApp, one reload at a time."""
    from server.config import schema_dir

    state = app.modelreg_state
    with app.modelreg_reload_lock:
        return reload_registry(state, directory or schema_dir(state.stores.config))


def schema_snapshot(directory: str | Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every schema file; a reload is due when it changes."""
    snapshot = {}
    for path in Path(directory).glob("*.conf"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between glob and stat
            continue
        snapshot[path.name] = (stat.st_mtime_ns, stat.st_size)
    return snapshot


class SchemaWatcher:
    """Polls the schema folder's file times; calls `on_change` once the folder has been still for one
    interval (an editor's save, or a copy of several files, is one change)."""

    def __init__(self, directory: str | Path, on_change: Callable[[], None], interval: float = 1.0):
        self.directory = Path(directory)
        self.on_change = on_change
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schema-watcher", daemon=True)

    def start(self) -> SchemaWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        seen = schema_snapshot(self.directory)
        while not self._stop.wait(self.interval):
            current = schema_snapshot(self.directory)
            if current == seen:
                continue
            while not self._stop.wait(self.interval):  # wait until the writes settle
                settled = schema_snapshot(self.directory)
                if settled == current:
                    break
                current = settled
            seen = current
            log.info("schema files changed in %s", self.directory)
            try:
                self.on_change()
            except Exception:
                log.exception("schema reload after a file change failed")


def _log(message: str, error: bool) -> None:
    log.log(logging.ERROR if error else logging.INFO, "%s", message)


def check_in_subprocess(directory: str | Path, timeout: float = 300) -> tuple[bool, str]:
    """Runs the schema checker in a fresh interpreter: (passed, what it printed)."""
    try:
        result = subprocess.run(
            [sys.executable, "-m", "server", "schema", "check", str(directory)],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, f"the schema check did not finish within {timeout:.0f} s"
    return result.returncode == 0, (result.stdout + result.stderr).strip()


class GunicornReloader:
    """Lives in the launcher. `request()` (from SIGHUP or the watcher) wakes one thread that checks the
    folder and, if it passes, sends SIGHUP to gunicorn. Requests that arrive during a check coalesce."""

    def __init__(
        self,
        gunicorn_pid: int | Callable[[], int | None],
        directory: str | Path,
        check: Callable[[Path], tuple[bool, str]] = check_in_subprocess,
        notify: Callable[[str, bool], None] | None = None,
        live: LiveSchemas | None = None,
    ):
        self.live = live  # when given, gunicorn serves its checked copies (server/contract/live_schemas.py)
        self._pid = gunicorn_pid if callable(gunicorn_pid) else (lambda: gunicorn_pid)
        self.directory = Path(directory)
        self.check = check
        self.notify = notify or _log  # (message, is_error); the launcher prints instead
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schema-reloader", daemon=True)
        self._watcher: SchemaWatcher | None = None
        self.reloads = 0  # reloads passed on to gunicorn
        self.refusals = 0  # broken sets kept out

    def start(self, watch: bool = False, interval: float = 1.0) -> GunicornReloader:
        self._thread.start()
        if watch:
            self._watcher = SchemaWatcher(self.directory, self.request, interval).start()
        return self

    def request(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def reload_now(self) -> bool:
        checked = self.live.copy() if self.live is not None else self.directory
        passed, output = self.check(checked)
        if not passed:
            if self.live is not None:
                self.live.discard(checked)
            self.refusals += 1
            self.notify(f"schema reload refused, the running schemas stay live:\n{output}", True)
            return False
        pid = self._pid()
        if pid is None:
            if self.live is not None:
                self.live.discard(checked)
            self.notify("the schema files are good, but gunicorn is not running", True)
            return False
        if self.live is not None:
            self.live.publish(checked)
        os.kill(pid, signal.SIGHUP)
        self.reloads += 1
        self.notify(f"schema files are good ({output}); gunicorn replaces its workers", False)
        return True

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                self.reload_now()
            except Exception:
                log.exception("schema reload failed")
