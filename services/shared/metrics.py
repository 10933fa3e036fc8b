"""Every Prometheus metric of the registry, defined here and only here, so a feature adds its own beside
the others (webhook deliveries, change-log lag are declared for the features that report them).

prometheus-client runs in its multi-process mode under gunicorn: gunicorn.conf.py points
PROMETHEUS_MULTIPROC_DIR at a folder under the data folder before any worker starts, each worker writes
its values there, and `exposition()` sums every worker's. Without that variable (the app in one process,
the tests' in-process client) the process's own registry is shown. No label names a company or a user:
labels are bounded by the schema's endpoints and the HTTP statuses.
"""

from __future__ import annotations

import glob
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from database import timing

UNKNOWN_ENDPOINT = "(unknown)"  # a path that names no endpoint: never the path itself (unbounded labels)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

CALLS = Counter("modelreg_calls", "RPC calls answered, by endpoint, served version and HTTP status",
                ["endpoint", "version", "status"])
CALL_SECONDS = Histogram("modelreg_call_duration_seconds", "Time from a call's arrival to its reply (a stream: "
                         "to its first byte)", ["endpoint"], buckets=_LATENCY)
DATABASE_SECONDS = Histogram("modelreg_call_database_seconds", "Time one call waited on MongoDB",
                             ["endpoint"], buckets=_LATENCY)
STORE_SECONDS = Histogram("modelreg_call_store_seconds", "Time one call waited on the object store (calls "
                          "that used it)", ["endpoint"], buckets=_LATENCY)
TRANSFERS_IN_FLIGHT = Gauge("modelreg_transfers_in_flight", "Uploads, downloads, streams and outbound "
                            "fetches being served", multiprocess_mode="livesum")
THROTTLED_SIGN_INS = Counter("modelreg_throttled_sign_ins", "Sign-ins refused by the failure throttle (429)")
# reported by the webhook delivery processes (`python -m server deliver`), which write into the API
# host's folder (server/process/deliver.py)
WEBHOOK_DELIVERIES = Counter("modelreg_webhook_deliveries", "Webhook delivery attempts answered 2xx")
WEBHOOK_FAILURES = Counter("modelreg_webhook_failures", "Webhook delivery attempts that failed")
# the lag gauge reads 0 when no delivery process runs (every API worker holds a 0): a rate of 0 here says so
DELIVERY_ROUNDS = Counter("modelreg_webhook_rounds", "Rounds of work of the webhook delivery processes")
# Each delivery process measures the webhooks it looks at or works on, so the fleet's lag is the largest
# of the live processes' values ("livemax"); an exited process's value goes with it (the process marks
# itself dead), and the 0 every API worker holds never wins.
CHANGE_LOG_LAG = Gauge("modelreg_change_log_lag_seconds", "Age of the oldest change-log entry waiting for "
                       "delivery to an active webhook, as the delivery processes last saw it",
                       multiprocess_mode="livemax")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> tuple[bytes, str]:
    """The text format of every metric, summed over the workers, and its content type."""
    folder = multiprocess_dir()
    if folder is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    registry.register(_EveryProcess(folder))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _EveryProcess:
    """prometheus-client's multi-process collection, less the files still being made.

    The library creates a process's file and only then sizes it, and its own collector fails the whole
    scrape (a 500 for every metric of every worker) on a file read in between, or left empty for good by a
    process killed in between (prometheus/client_python#1199). An empty file holds no value yet, so it is
    left out; a file with content only grows."""

    def __init__(self, folder: str):
        self.folder = folder

    def collect(self):
        return multiprocess.MultiProcessCollector.merge(
            [path for path in glob.glob(os.path.join(self.folder, "*.db")) if _holds_values(path)], accumulate=True)


def _holds_values(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # removed meanwhile (a dead process's live gauges)
        return False


def call_timer():
    """Opens a call's database and object-store time (database/timing.py): returns (times, token)."""
    return timing.begin()


def close_call_timer(token) -> None:
    timing.end(token)


def count_delivery(ok: bool) -> None:
    (WEBHOOK_DELIVERIES if ok else WEBHOOK_FAILURES).inc()


def set_change_log_lag(seconds: float) -> None:
    """Once a round: the lag and the round itself."""
    CHANGE_LOG_LAG.set(max(0.0, seconds))
    DELIVERY_ROUNDS.inc()


def mark_process_dead(pid: int) -> None:
    """A process that wrote into the multi-process folder is gone: its live gauges stop counting."""
    folder = multiprocess_dir()
    if folder is not None:
        multiprocess.mark_process_dead(pid, folder)


# (endpoint, version, status) -> the labelled series of one kind of call: `labels()` validates and locks
# on every use, a third of the metrics' cost per call. Bounded like the labels themselves.
_SERIES: dict[tuple[str, str, int], tuple] = {}


def _series(endpoint: str, version: str, status: int) -> tuple:
    found = _SERIES.get((endpoint, version, status))
    if found is None:
        name = endpoint or UNKNOWN_ENDPOINT
        found = _SERIES[(endpoint, version, status)] = (
            CALLS.labels(name, version, str(status)), CALL_SECONDS.labels(name), DATABASE_SECONDS.labels(name),
            STORE_SECONDS.labels(name))
    return found


def record_call(endpoint: str, version: str, status: int, seconds: float, times: timing.CallTimes) -> None:
    calls, duration, database, store = _series(endpoint, version, status)
    calls.inc()
    duration.observe(seconds)
    database.observe(times.database_sec)
    if times.store_requests:
        store.observe(times.store_sec)
