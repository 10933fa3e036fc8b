"""The WSGI entry point gunicorn serves: `server.wsgi:application`."""

import logging

from server.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
application = create_app()
