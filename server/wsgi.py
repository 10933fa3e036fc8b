"""The WSGI entry point gunicorn serves: `server.wsgi:application`."""

import gc
import logging

from server.config import load_config
from server.http import call_log
from server.http.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
_config = load_config()
call_log.configure(_config)  # one line per call to <data_dir>/logs/calls.log
application = create_app(_config)
# The schema registry, compiled validators and modules are built once and live as long as the worker:
# moved out of the collector's reach, they are not traversed again by every full collection (which
# showed as p99 spikes under load).
gc.freeze()
