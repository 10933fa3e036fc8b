"""gunicorn's side of the metrics (prometheus-client's multi-process folder and its clean-up), and the
line a worker logs once it has loaded the app: the point from which its schemas are fixed, so whoever
edits the schema folder during a reload can see when every new worker has read it.

Every worker writes its metric values to files in one folder (PROMETHEUS_MULTIPROC_DIR), which /metrics
sums. The folder is <data_dir>/metrics/<pid of the gunicorn master>, set in the master before any worker
starts (workers inherit it); a master's own folder is emptied as it starts and removed as it exits, and
folders of masters no longer running are removed too, so several servers may share one data folder.
A worker that exits is marked dead (its live gauges stop counting).

Webhook delivery processes (server/process/deliver.py) write into the same folder, so the API's
/metrics shows their counters: `./run.sh` names it to them; one started alone finds it with
`live_folder` (the one folder of a running master under the data folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from server.config import load_config

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir(config=None) -> Path:
    config = config if config is not None else load_config()
    return folder_of(config.get("server.data_dir"), os.getpid())


def folder_of(data_dir, master_pid: int) -> Path:
    return Path(data_dir).expanduser().resolve() / "metrics" / str(master_pid)


def live_folder(config) -> Path | None:
    """The folder of the one gunicorn master running on the configured data folder; None when there is
    none, or several (which one would be ambiguous)."""
    root = Path(config.get("server.data_dir")).expanduser().resolve() / "metrics"
    live = [f for f in root.glob("*") if f.name.isdigit() and f.is_dir() and _running(int(f.name))]
    return live[0] if len(live) == 1 else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare() -> None:
    """Run in the master as gunicorn reads its configuration (again on SIGHUP: same folder, kept)."""
    os.environ[ENV] = str(multiprocess_dir())


def on_starting(_server) -> None:
    folder = Path(os.environ[ENV])
    for other in folder.parent.glob("*"):
        if other.name.isdigit() and other != folder and not _running(int(other.name)):
            shutil.rmtree(other, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def child_exit(_server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(_server) -> None:
    shutil.rmtree(os.environ[ENV], ignore_errors=True)


def post_worker_init(worker) -> None:
    from services.call import format_version

    state = getattr(worker.wsgi, "modelreg_state", None)
    shown = format_version(state.api_version) if state is not None else "unknown"
    worker.log.info("Worker ready (pid: %s), schemas up to %s", worker.pid, shown)
