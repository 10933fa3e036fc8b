"""The MongoDB client and database handle."""

from __future__ import annotations

from pymongo import MongoClient
from pymongo.database import Database


def connect(uri: str, database: str, timeout_ms: int = 5000) -> Database:
    client = MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 6, 30000),
        uuidRepresentation="standard",
        appname="modelreg",
    )
    return client[database]


def ping(db: Database) -> None:
    db.client.admin.command("ping")


def answers(uri: str, timeout_ms: int = 500) -> bool:
    """Whether a MongoDB server at `uri` answers a ping (used to wait for the embedded server)."""
    with MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as client:
        client.admin.command("ping")
    return True
