"""`python -m server serve`: the embedded servers (unless configured away), the first admin, gunicorn, then
the webhook delivery processes (`webhooks.deliverers`).

Children run in their own sessions, so a terminal's Ctrl-C reaches only this process, which stops them
in reverse start order: the delivery processes, gunicorn (graceful), the S3 server, then MongoDB.
SIGHUP reloads the schema files: they are checked first, and only a good set is passed on to gunicorn,
which replaces its workers. If a child dies on its own, the others are stopped and the exit code is 1.
Logs go to <data_dir>/logs/.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from server.config import ROOT, ConfigError, load_config
from server.http.serving import GRACEFUL_TIMEOUT_SEC
from server.process import embedded, gunicorn_hooks
from services.identity.credentials import new_key_pair

START_TIMEOUT_SEC = 120  # the app loads and compiles every schema file before it answers

USAGE = """usage: python -m server serve
Starts the embedded MongoDB and S3 servers (unless mongo.uri / s3.endpoint are set) and gunicorn.
Settings: config/default.conf, the HOCON file named by MODELREG_CONFIG, MODELREG_* variables."""


class _Shutdown(Exception):
    """Raised by the SIGTERM/SIGINT handler to leave whatever the launcher is waiting on."""


class LaunchError(Exception):
    pass


def say(message: str, err: bool = False) -> None:
    # whoever read our output may be gone (a closed pipe): the launcher still stops its children cleanly
    with contextlib.suppress(BrokenPipeError, ValueError):
        print(f"modelreg: {message}", file=sys.stderr if err else sys.stdout, flush=True)


class Launcher:
    def __init__(self, config):
        self.config = config
        self.data_dir = Path(config.get("server.data_dir")).expanduser().resolve()
        self.logs = self.data_dir / "logs"
        self.children: list[embedded.EmbeddedProcess] = []  # in start order
        self.gunicorn: embedded.EmbeddedProcess | None = None
        self.reloader = None  # server.reload.GunicornReloader: made at start, runs once gunicorn serves
        self.stopping = False
        self._lock_file = None

    # -- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.reloader = self._schema_reloader()  # a SIGHUP during start is served once gunicorn is up
        self.logs.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        host, port = self.config.get("server.host"), int(self.config.get("server.port"))
        if not embedded.port_is_free(port, host):
            raise LaunchError(f"port {port} (server.port, MODELREG_PORT) on {host} is in use")
        env = {}
        if not self.config.get("mongo.uri"):
            mongo = self._start(embedded.start_mongo, self.data_dir / "mongo",
                                int(self.config.get("mongo.embedded_port")), self.logs / "mongo.log",
                                START_TIMEOUT_SEC)
            self.config.put("mongo.uri", mongo.address)
            env["MODELREG_MONGO_URI"] = mongo.address
        if not self.config.get("s3.endpoint"):
            access_key, secret_key = self._s3_credentials()
            weed = self._start(embedded.start_s3, self.data_dir / "s3", int(self.config.get("s3.embedded_port")),
                               access_key, secret_key, self.config.get("s3.bucket"), self.logs / "s3.log",
                               START_TIMEOUT_SEC)
            for key, value in (("endpoint", weed.address), ("access_key", access_key), ("secret_key", secret_key),
                               ("secure", False)):
                self.config.put(f"s3.{key}", value)
            env.update(MODELREG_S3_ENDPOINT=weed.address, MODELREG_S3_ACCESS_KEY=access_key,
                       MODELREG_S3_SECRET_KEY=secret_key, MODELREG_S3_SECURE="false")
        if not self.config.get("auth.token_secret"):
            token_secret = embedded.read_or_create_private(self.data_dir / "token_secret",
                                                           lambda: secrets.token_hex(32)).strip()
            self.config.put("auth.token_secret", token_secret)
            env["MODELREG_AUTH_TOKEN_SECRET"] = token_secret
        self._ensure_admin()
        # workers load a copy of the schema folder, so an edit is seen only once checked and published
        first = self.reloader.live.copy()
        self.reloader.live.publish(first)
        env["MODELREG_SERVER_SCHEMA_DIR"] = str(self.reloader.live.live)
        self._start_gunicorn(host, port, env)
        self._start_deliverers(env)
        self.reloader.start(watch=bool(self.config.get("server.reload")))

    def _start(self, start, *args) -> embedded.EmbeddedProcess:
        try:
            child = start(*args)
        except embedded.EmbeddedStartError as exc:
            raise LaunchError(str(exc)) from exc
        self.children.append(child)
        return child

    def _lock_data_dir(self) -> None:
        self._lock_file = open(self.data_dir / ".lock", "w")  # noqa: SIM115 (held for the process's life)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise LaunchError(f"another modelreg is running with the data folder {self.data_dir}") from exc

    def _s3_credentials(self) -> tuple[str, str]:
        def make() -> str:
            key, secret = new_key_pair()
            return json.dumps({"access_key": key, "secret_key": secret})

        kept = json.loads(embedded.read_or_create_private(self.data_dir / "s3_credentials.json", make))
        return kept["access_key"], kept["secret_key"]

    def _ensure_admin(self) -> None:
        from services.identity.first_admin import ensure_admin

        key, secret = self.config.get("admin.key"), self.config.get("admin.secret")
        if bool(key) != bool(secret):
            raise LaunchError("set both MODELREG_ADMIN_KEY and MODELREG_ADMIN_SECRET, or neither")
        generated = not key
        if generated:
            key, secret = new_key_pair()
            self.config.put("admin.key", key)
            self.config.put("admin.secret", secret)
        created = ensure_admin(self.config, generated=generated)
        kept = self.data_dir / "admin_credentials.json"
        if created is None:
            if generated and kept.exists():
                say(f"admin key pair: see {kept}")
            return
        if not generated:
            say(f"created the admin user with the configured key {key}")
            return
        say(f"created the first admin key pair (shown once; also kept in {kept}):\n"
            f"  access key: {created[0]}\n  secret key: {created[1]}")
        embedded.write_private(kept, json.dumps({"access_key": created[0], "secret_key": created[1]}, indent=2) + "\n")

    def _start_gunicorn(self, host: str, port: int, env_updates: dict) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("MODELREG_ADMIN_KEY", "MODELREG_ADMIN_SECRET")}
        env.update(env_updates, MODELREG_DATA_DIR=str(self.data_dir))
        # workers, threads and timeouts come from gunicorn.conf.py (server/http/serving.py), which reads the
        # same configuration in the child
        argv = [sys.executable, "-m", "gunicorn", "server.wsgi:application", "-c", str(ROOT / "gunicorn.conf.py"),
                "-b", f"{host}:{port}", *_no_control_socket()]
        log_path = self.logs / "gunicorn.log"
        process = embedded.spawn("gunicorn", argv, log_path, env=env, cwd=ROOT)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"
        self.gunicorn = embedded.EmbeddedProcess("gunicorn", process, log_path, url)
        self.children.append(self.gunicorn)
        deadline = time.monotonic() + START_TIMEOUT_SEC
        while not _answers(url + "/debug.ping"):
            if process.poll() is not None:
                raise LaunchError(f"gunicorn exited with code {process.returncode} while starting; see {log_path}:\n"
                                  f"{embedded.log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise LaunchError(f"gunicorn did not answer on {url} within {START_TIMEOUT_SEC} s; see {log_path}")
            time.sleep(0.2)
        say(f"serving {url} (model files: {url}/files); logs in {self.logs}")

    def _start_deliverers(self, env_updates: dict) -> None:
        """`webhooks.deliverers` delivery processes (`python -m server deliver`), stopped with the rest;
        0 when they run elsewhere (they share the work through MongoDB, wherever they run)."""
        env = {k: v for k, v in os.environ.items() if k not in ("MODELREG_ADMIN_KEY", "MODELREG_ADMIN_SECRET")}
        env.update(env_updates, MODELREG_DATA_DIR=str(self.data_dir), MODELREG_MONGO_URI=self.config.get("mongo.uri"))
        # their metrics go where gunicorn's workers write theirs, so the API's /metrics shows them
        env[gunicorn_hooks.ENV] = str(gunicorn_hooks.folder_of(self.data_dir, self.gunicorn.process.pid))
        for i in range(int(self.config.get("webhooks.deliverers", 1))):
            log_path = self.logs / f"deliver-{i}.log"
            process = embedded.spawn(f"deliver-{i}", [sys.executable, "-m", "server", "deliver"], log_path, env=env,
                                     cwd=ROOT)
            self.children.append(embedded.EmbeddedProcess(f"deliver-{i}", process, log_path, ""))

    # -- run and stop --------------------------------------------------------------------------
    def watch(self) -> int:
        """Waits until a signal asks to stop (0) or a child dies (1)."""
        while True:
            for child in self.children:
                code = child.poll()
                if code is not None:
                    say(f"{child.name} exited unexpectedly with code {code}; see {child.log_path}", err=True)
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        self.stopping = True
        if self.reloader is not None:
            self.reloader.stop()
            self.reloader = None
        for child in reversed(self.children):
            timeout = GRACEFUL_TIMEOUT_SEC + 10 if child is self.gunicorn else 30
            child.stop(timeout)
        self.children.clear()

    def on_stop_signal(self, signum, _frame) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise _Shutdown(signal.Signals(signum).name)

    def on_hangup(self, _signum, _frame) -> None:
        if self.reloader is not None:
            self.reloader.request()

    # -- schema reload (server/contract/reload.py) ------------------------------------------------------
    def _schema_reloader(self):
        """SIGHUP, or with server.reload a changed schema file: the schema checker runs first, and only a
        good set is passed on to gunicorn as SIGHUP; a broken one is reported and the old set stays live."""
        from server.config import schema_dir
        from server.contract.live_schemas import LiveSchemas
        from server.contract.reload import GunicornReloader

        folder = schema_dir(self.config)
        return GunicornReloader(self._gunicorn_pid, folder, live=LiveSchemas(folder, self.data_dir),
                                notify=lambda message, error: say(message, err=error))

    def _gunicorn_pid(self) -> int | None:
        gunicorn = self.gunicorn
        return gunicorn.process.pid if gunicorn is not None and gunicorn.poll() is None else None


def _no_control_socket() -> list[str]:
    """gunicorn >= 25.1 opens a control socket at one fixed path per user; two servers would share it."""
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    if argv:
        print(USAGE)
        return 0 if argv[0] in ("-h", "--help") else 2
    try:
        config = load_config()
    except ConfigError as exc:
        say(str(exc), err=True)
        return 2
    launcher = Launcher(config)
    signal.signal(signal.SIGTERM, launcher.on_stop_signal)
    signal.signal(signal.SIGINT, launcher.on_stop_signal)
    signal.signal(signal.SIGHUP, launcher.on_hangup)
    try:
        launcher.start()
        code = launcher.watch()
    except _Shutdown as exc:
        say(f"{exc}: stopping")
        code = 0
    except LaunchError as exc:
        say(str(exc), err=True)
        code = 1
    finally:
        launcher.stopping = True
        launcher.stop()
    if code == 0:
        say("stopped")
    return code
