"""`python -m server deliver`: the webhook delivery process (services/webhooks/deliverer.py).

Runs beside gunicorn (`./run.sh` starts one) or alone, any number of them on any hosts: they share the
work through leases in MongoDB. It needs `mongo.uri` (MODELREG_MONGO_URI) when run alone. SIGTERM or
SIGINT stops it after the attempts in progress.

Its metrics (deliveries, failures, change-log lag) go into the prometheus-client multi-process folder of
the API's gunicorn on this host, so the API's /metrics shows them: the folder `PROMETHEUS_MULTIPROC_DIR`
names (`./run.sh` sets it), else the one of the gunicorn master running on the same data folder
(server/process/gunicorn_hooks.py). Without either they stay in the process, unseen. On its way out the
process marks itself dead in that folder, as prometheus-client asks, so its lag gauge stops counting.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from server.config import ConfigError, load_config
from server.process import gunicorn_hooks

USAGE = """usage: python -m server deliver
Delivers change-log entries to webhooks until stopped (SIGTERM). Settings: webhooks.*, outbound.*,
mongo.uri (MODELREG_MONGO_URI) and mongo.database."""


def main(argv: list[str]) -> int:
    if argv:
        print(USAGE)
        return 0 if argv[0] in ("-h", "--help") else 2
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"modelreg deliver: {exc}", file=sys.stderr)
        return 2
    if not config.get("mongo.uri"):
        print("modelreg deliver: set mongo.uri (MODELREG_MONGO_URI)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s deliver[%(process)d] %(levelname)s %(message)s")
    _metrics_folder(config)  # before prometheus-client is imported: it reads the variable once
    stop = threading.Event()

    def on_signal(signum, _frame):
        logging.getLogger("modelreg.deliver").info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    from services.shared import metrics
    from services.webhooks.deliverer import run_forever

    try:
        run_forever(config, stop)
    finally:
        metrics.mark_process_dead(os.getpid())
    return 0


def _metrics_folder(config) -> None:
    log = logging.getLogger("modelreg.deliver")
    named = os.environ.get(gunicorn_hooks.ENV)
    folder = Path(named) if named else gunicorn_hooks.live_folder(config)
    if folder is None or not folder.is_dir():
        os.environ.pop(gunicorn_hooks.ENV, None)
        log.info("metrics: no gunicorn metrics folder %s; they stay in this process", named or "found")
        return
    os.environ[gunicorn_hooks.ENV] = str(folder)
    log.info("metrics: written into %s", folder)
