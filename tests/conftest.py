"""Fixtures: real processes (fixtures_processes) and the app through its dispatcher (fixtures_app)."""

from tests.fixtures_processes import *  # noqa: F401,F403

try:
    from tests.fixtures_app import *  # noqa: F401,F403
except ImportError:  # pragma: no cover - the app fixtures arrive with the dispatcher
    pass
