"""The stored-file fields of model documents (collection `models`, owned by database/models_db.py).

Kept apart from models_db because these writes must be atomic with reading the previous value: the
caller needs the file record it replaces (to delete the old blob) exactly as it was at the write.
A model's `file` is `{size, sha256, content_type, filename, stored: true, key}`; `key` is the object
key in the blob store.
"""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.database import Database

from database.models_db import MODELS, now, writable

PREVIOUS = {"_id": 1, "uri": 1, "file": 1, "company": 1}


def _stamp(user: str) -> dict:
    when = now()
    return {"last_update": when, "last_change": when, "last_changed_by": user}


def set_file(db: Database, company: str, model_id: str, file: dict, uri: str, user: str) -> dict | None:
    """Points an own model at a stored file. Returns the model's previous `{_id, uri, file}`, or None
    when the model is not (or no longer) the company's."""
    return db[MODELS].find_one_and_update(
        {"_id": model_id, **writable(company)},
        {"$set": {"file": file, "uri": uri, **_stamp(user)}},
        projection=PREVIOUS, return_document=ReturnDocument.BEFORE,
    )


def clear_file(db: Database, company: str, model_id: str, user: str) -> dict | None:
    """Removes the file record and the uri of an own model; returns the previous `{_id, uri, file}`."""
    return db[MODELS].find_one_and_update(
        {"_id": model_id, **writable(company)},
        {"$set": {"uri": "", **_stamp(user)}, "$unset": {"file": ""}},
        projection=PREVIOUS, return_document=ReturnDocument.BEFORE,
    )


def uri_used_by_others(db: Database, company: str, uri: str, model_id: str) -> bool:
    """Whether another model of the company (or one it made public) points at `uri`."""
    if not uri:
        return False
    query = {"uri": uri, "_id": {"$ne": model_id}, "$or": [{"company": company}, {"company_origin": company}]}
    return db[MODELS].find_one(query, {"_id": 1}) is not None
