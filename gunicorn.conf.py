"""gunicorn reads this file from the folder it starts in (./run.sh and the tests start it here), so every
gunicorn serving `server.wsgi:application` gets the serving model of server/http/serving.py."""

from server.http.serving import gunicorn_settings

globals().update(gunicorn_settings())
