"""`python -m server deliver`: the webhook delivery process (services/webhooks/deliverer.py).

Runs beside gunicorn (`./run.sh` starts one) or alone, any number of them on any hosts: they share the
work through leases in MongoDB. It needs `mongo.uri` (MODELREG_MONGO_URI) when run alone. SIGTERM or
SIGINT stops it after the attempts in progress.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from server.config import ConfigError, load_config

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
    stop = threading.Event()

    def on_signal(signum, _frame):
        logging.getLogger("modelreg.deliver").info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    from services.webhooks.deliverer import run_forever

    run_forever(config, stop)
    return 0
