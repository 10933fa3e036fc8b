"""The WSGI entry point gunicorn serves: `server.wsgi:application`."""

import gc
import logging

from server.http.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
application = create_app()
# The schema registry, compiled validators and modules are built once and live as long as the worker:
# moved out of the collector's reach, they are not traversed again by every full collection (which
# showed as p99 spikes under load).
gc.freeze()
