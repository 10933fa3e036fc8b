"""gunicorn reads this file from the folder it starts in (./run.sh and the tests start it here), so every
gunicorn serving `server.wsgi:application` gets the serving model of server/http/serving.py and the
metrics folder of server/process/gunicorn_hooks.py."""

from server.http.serving import gunicorn_settings
from server.process import gunicorn_hooks

gunicorn_hooks.prepare()  # before any worker imports prometheus-client
globals().update(gunicorn_settings())
on_starting = gunicorn_hooks.on_starting
child_exit = gunicorn_hooks.child_exit
on_exit = gunicorn_hooks.on_exit
post_worker_init = gunicorn_hooks.post_worker_init
