"""Creates every collection's indexes at start. Idempotent: create_index is a no-op when one exists.

An index costs every write to its collection, and on the embedded server (secantusd-py 0.7) more than on
MongoDB: an insert writes one entry per index (~0.06 ms each), and an update removes and writes again the
entries of EVERY index, whether or not its fields changed (`storage.py`: `_delete_index_entries` then
`_write_index_entries`; ~0.15 ms an index, so a `$set` of a comment on a document with 19 indexes cost
3.6 ms against 0.8 ms with none). Its planner also reads fewer of them (database/query/shape.py): a
compound index serves it only for exactly its leading fields as equalities (plus one `$in` or range),
never a filter with `$or`, `$nin` or a pattern. An index declared `mongodb_only` serves queries only
MongoDB's planner answers from it: it is built on MongoDB and left out (and dropped, for data made before
this rule) where the embedded server is the database, which answers those queries as it did with it,
from the index of the filter's first clause.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence

from pymongo.collection import Collection
from pymongo.database import Database

from database import connection


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


def ensure_index(collection: Collection, keys: Sequence[tuple[str, int]], *, mongodb_only: bool = False,
                 **options) -> None:
    """`collection.create_index(keys, **options)`, except for a `mongodb_only` index on the embedded server,
    which is dropped if present instead."""
    if mongodb_only and connection.is_embedded(collection.database):
        name = options.get("name") or index_name(keys)
        if name in collection.index_information():
            collection.drop_index(name)
        return
    collection.create_index(list(keys), **options)


def index_name(keys: Sequence[tuple[str, int]]) -> str:
    """The name MongoDB and pymongo give an index of these keys when none is given."""
    return "_".join(f"{field}_{direction}" for field, direction in keys)
