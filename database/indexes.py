"""Creates every collection's indexes at start. Idempotent: create_index is a no-op when one exists."""

from __future__ import annotations

import importlib
import pkgutil

from pymongo.database import Database


def ensure_indexes(db: Database) -> None:
    """Calls `ensure_indexes(db)` of every database module that defines one (collections, the query
    engine's scroll cursors)."""
    import database

    for module in pkgutil.walk_packages(database.__path__, "database."):
        if module.ispkg or module.name == __name__ or module.name.rpartition(".")[2].startswith("_"):
            continue
        mod = importlib.import_module(module.name)
        func = getattr(mod, "ensure_indexes", None)
        if callable(func):
            func(db)
