"""A real gunicorn serving the app (the end-to-end and SDK tests talk HTTP to it), and the ClearML SDK run
against it in a subprocess."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from database import connection
from database.collections import users_db
from server.config import ROOT
from server.process.embedded import free_port, stop_process
from tests.fixtures.app import drop


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:port
    access_key: str
    secret_key: str
    company: str
    database: str
    mongo_uri: str
    env: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def stop(self, drop_database: bool = True) -> None:
        """Stops gunicorn and drops the server's database (tests/fixtures/app.py `drop`), unless the
        database server is the caller's own and goes with its data anyway."""
        if self.process is not None:
            stop_process(self.process, 30)
        if drop_database:
            drop(connection.connect(self.mongo_uri, self.database))

    @property
    def files_url(self) -> str:
        return self.url + "/files"

    def run_sdk_script(self, tmp_path: Path, script: str, *args: str, mark: str = "RESULT ") -> dict:
        """Runs `script` (Python using the real ClearML SDK) in a subprocess pointed at this server and
        returns the JSON it printed last on a line starting with `mark`. Fails on any SDK "Action failed"."""
        path = tmp_path / "sdk_script.py"
        path.write_text(script)
        proc = subprocess.run([sys.executable, str(path), *args], env=self.sdk_env(tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        lines = [line for line in proc.stdout.splitlines() if line.startswith(mark)]
        server_log = self.log_path.read_text()[-4000:] if self.log_path else ""
        assert proc.returncode == 0 and lines, (
            f"SDK script failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}\n"
            f"server log:\n{server_log}"
        )
        assert "Action failed" not in proc.stderr + proc.stdout, proc.stderr[-6000:]
        return json.loads(lines[-1][len(mark):])

    def sdk_env(self, tmp_path: Path) -> dict:
        """Environment for a subprocess driving the real ClearML SDK against this server, offline."""
        config = tmp_path / "clearml.conf"
        config.write_text(
            "sdk.development.report_use_subprocess: false\nsdk.development.vcs_repo_detect_async: false\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_"))}
        env.update(
            CLEARML_API_HOST=self.url,
            CLEARML_WEB_HOST=self.url,
            CLEARML_FILES_HOST=self.files_url,
            CLEARML_API_ACCESS_KEY=self.access_key,
            CLEARML_API_SECRET_KEY=self.secret_key,
            CLEARML_CONFIG_FILE=str(config),
            CLEARML_CACHE_DIR=str(tmp_path / "cache"),
            # the SDK keeps the task it may reuse in ~/.clearml/.session.json and rewrites that file whole;
            # SDK runs of other tests at the same time would overwrite each other's entries
            HOME=str(tmp_path / "home"),
            CLEARML_LOG_LEVEL="WARNING",
            # the SDK's update check must not leave the machine
            HTTP_PROXY="http://127.0.0.1:9",
            HTTPS_PROXY="http://127.0.0.1:9",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        return env


def wait_until_serving(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url + "/debug.ping", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve in time:\n{log_path.read_text()[-3000:]}")


def start_live_server(mongo_uri: str, log_dir: Path, env_extra: dict | None = None,
                      graceful_timeout: int = 10) -> LiveServer:
    """gunicorn (2 workers) on a free port with a database of its own and an admin key pair; returns
    once it serves. `env_extra` adds MODELREG_* settings (object storage, schema folder, ...)."""
    database = f"live_{secrets.token_hex(6)}"
    company = "live_company_" + secrets.token_hex(6)
    db = connection.connect(mongo_uri, database)
    admin = users_db.create_user(db, "admin", company, "live", "admin")
    key, secret = "LIVE" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    users_db.add_credential(db, admin, key, secret)
    db.client.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(
        MODELREG_MONGO_URI=mongo_uri,
        MODELREG_MONGO_DATABASE=database,
        MODELREG_AUTH_TOKEN_SECRET=secrets.token_hex(32),
        MODELREG_AUTH_DEFAULT_COMPANY=company,
        **(env_extra or {}),
    )
    log_path = log_dir / f"gunicorn-{port}.log"
    argv = [sys.executable, "-m", "gunicorn", "server.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", "2"]
    argv += ["--timeout", "120", "--graceful-timeout", str(graceful_timeout), "--no-control-socket"]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", key, secret, company, database, mongo_uri, env, proc, log_path)
    try:
        wait_until_serving(server.url, proc, log_path)
    except BaseException:
        server.stop()
        raise
    return server
