"""Creates every collection's indexes at start. Idempotent: create_index is a no-op when one exists."""

from __future__ import annotations

import importlib
import pkgutil

from pymongo.database import Database


def ensure_indexes(db: Database) -> None:
    """Calls `ensure_indexes(db)` of every database module that defines one."""
    import database

    for module in pkgutil.iter_modules(database.__path__):
        if module.name in ("indexes",) or module.name.startswith("_"):
            continue
        mod = importlib.import_module(f"database.{module.name}")
        func = getattr(mod, "ensure_indexes", None)
        if callable(func):
            func(db)
