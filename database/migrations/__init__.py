"""Upgrades of the stored data, run at start (database/migrations/runner.py).

Each step is a module `m<NNNN>_<what>.py` in this folder with `migrate(db)`: numbered in the order they
run, never renumbered or edited once released, and idempotent (a host that dies between a step and the
version stamp runs that step again). The data version (the `meta` collection) is the number of the last
step done.
"""

from database.migrations.runner import (
    REPLY_TIMEOUT_MS,
    MigrationError,
    current_version,
    latest_version,
    run,
    steps,
    upgrade,
)

__all__ = ["REPLY_TIMEOUT_MS", "MigrationError", "current_version", "latest_version", "run", "steps", "upgrade"]
