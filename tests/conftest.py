"""Fixtures: real processes (fixtures_processes), gunicorn (fixtures_server), the app in-process (fixtures_app)."""

from tests.files_support import alice, bob, bucket, files_app  # noqa: F401
from tests.fixtures_app import *  # noqa: F401,F403
from tests.fixtures_processes import *  # noqa: F401,F403
from tests.fixtures_server import *  # noqa: F401,F403
