"""The MongoDB client and database handle, the deadline that bounds one call's database work, and which
kind of server answers (MongoDB or the embedded secantusd-py, whose planner needs help: database/query/shape.py)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from contextlib import AbstractContextManager

import pymongo
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database


def connect(uri: str, database: str, timeout_ms: int = 5000, operation_timeout_ms: int | None = None,
            journal: bool = True) -> Database:
    """`timeout_ms` bounds waiting for an unreachable server; `operation_timeout_ms` (pymongo's
    timeoutMS) bounds every single operation, the server being told as maxTimeMS, so a stalled server
    never holds a caller longer than that even outside a `deadline` block.

    `journal` sends every write with writeConcern `j: true`: the server answers only once the write is
    in its journal on disk, so an acknowledged write survives a crash of the database process. MongoDB
    and the embedded server both honour it per write (the embedded server, started without
    --sync-on-commit, otherwise leaves its log to the OS and lost about 1 in 60 acknowledged inserts to
    a SIGKILL: tests/server/test_durable_writes.py)."""
    options = {"timeoutMS": operation_timeout_ms} if operation_timeout_ms else {
        "socketTimeoutMS": max(timeout_ms * 6, 30000)}
    client = MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        uuidRepresentation="standard",
        appname="modelreg",
        journal=journal,
        **options,
    )
    return client[database]


class Collections:
    """`db[name]`, each made once: pymongo builds a new Collection object on every `db[name]`, 3% of a
    worker's interpreter time per get_by_id under load (py-spy, docs/performance.md). Collection
    objects are immutable and thread-safe; one of these lives as long as the app's database handle."""

    def __init__(self, db: Database):
        self.db = db
        self._made: dict[str, Collection] = {}

    def __getitem__(self, name: str) -> Collection:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = self.db[name]
        return made


# {client: whether it talks to the embedded server}: a fact of the server, asked once per client and process
_EMBEDDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_embedded(db: Database) -> bool:
    """Whether `db` is served by the embedded server (secantusd-py), asked with buildInfo on first use."""
    client = db.client
    known = _EMBEDDED.get(client)
    if known is None:
        known = _EMBEDDED[client] = embedded_build(client.admin.command("buildInfo"))
    return known


def embedded_build(build_info: Mapping) -> bool:
    """Whether a buildInfo reply is the embedded server's: secantusd-py adds its own version to it."""
    return "secantusVersion" in build_info


def deadline(seconds: float | None) -> AbstractContextManager:
    """Every database operation inside the block must finish within `seconds` of entering it (sent to
    the server as maxTimeMS, enforced on the client too); running out raises a driver error that
    database.errors.database_unavailable recognises. None: no deadline beyond the per-operation one."""
    return pymongo.timeout(seconds)


def answers(uri: str, timeout_ms: int = 500) -> bool:
    """Whether a MongoDB server at `uri` answers a ping (used to wait for the embedded server)."""
    with MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as client:
        client.admin.command("ping")
    return True
