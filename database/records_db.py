"""Records: time-stamped observations of a model (`records.*`), each with an optional stored file.

Collection `records`: `{_id, company, user, model, timestamp (datetime), collection_date ("YYYY-MM-DD"),
data (any JSON), dataset (dataset id), experiment, season, site, info, file?: {key, filename, size,
sha256, content_type}, created, last_update}`. Records are never public.

`stream` hands back a live cursor (not a list) so that records.get_all can send millions of records
as NDJSON in constant memory; the caller closes it when the client goes away.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from pymongo import ASCENDING
from pymongo.database import Database

from database import query, query_shape
from database.scoped import Resource, ScopedCollection, both

RECORDS = "records"
NAME_FIELDS = ("experiment", "season", "site")
SPEC = query.QuerySpec(
    list_fields=frozenset({"id", "model", "dataset", "experiment", "season", "site", "collection_date", "user"}),
    datetime_fields=frozenset({"timestamp", "created", "last_update"}),
    text_fields=("id", "experiment", "season", "site"),
    hidden_fields=frozenset({"file.key"}),  # the object key stays inside; get_all never shows it
    known_fields=frozenset({"id", "company", "user", "model", "timestamp", "collection_date", "data", "dataset",
                            "experiment", "season", "site", "info", "file", "created", "last_update"}),
    numeric_sort_fields=frozenset(),
    never_empty=frozenset({"timestamp", "created", "_id"}),
    # a model holds many records, a site or a season of it far fewer
    narrow_first=("site", "season", "experiment", "collection_date", "dataset", "model"),
)
RESOURCE = Resource("records", RECORDS, SPEC, shareable=False)
STREAM_BATCH = 2000  # documents per round trip while streaming


# Before 2026-12 the field indexes were led by `company`; the embedded server cannot use those for a
# filter on several fields, so they are replaced.
_LEGACY = tuple(f"company_1_{field}_1_timestamp_1__id_1" for field in SPEC.narrow_first)


def ensure_indexes(db: Database) -> None:
    coll = db[RECORDS]
    # Every filter of records.get_all is equalities on these, then a timestamp range and order. Each index
    # is led by its field: MongoDB serves `{company, field}` the same either way, and the embedded server,
    # given several fields, selects candidates through the index led by the first one (query_shape).
    present = set(coll.index_information())
    for name in present.intersection(_LEGACY):
        coll.drop_index(name)
    for field in SPEC.narrow_first:
        coll.create_index([(field, ASCENDING), ("company", ASCENDING), ("timestamp", ASCENDING), ("_id", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("timestamp", ASCENDING), ("_id", ASCENDING)])


def now() -> datetime:
    """The current time to the millisecond, as MongoDB keeps it (so a reply equals a later read)."""
    when = datetime.now(timezone.utc)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _api(doc: dict) -> dict:
    """A streamed document as the API shows it: `id` first, the file's object key left out."""
    if "file" in doc and isinstance(doc["file"], dict):
        doc["file"] = {k: v for k, v in doc["file"].items() if k != "key"}
    return {"id": doc.pop("_id"), **doc} if "_id" in doc else doc


class Records(ScopedCollection):
    resource = RESOURCE

    def edit(self, record_id: str, set_fields: dict, unset_fields: tuple[str, ...] = ()) -> int:
        update: dict = {"$set": {**set_fields, "last_update": now()}}
        if unset_fields:
            update["$unset"] = {f: "" for f in unset_fields}
        return self.update(record_id, update)

    def set_file(self, record_id: str, file: dict) -> dict | None:
        """Points the record at a newly stored file; returns the record as it was (None if gone)."""
        return self.find_one_and_update({"_id": record_id}, {"$set": {"file": file, "last_update": now()}})

    def clear_file(self, record_id: str) -> dict | None:
        return self.find_one_and_update({"_id": record_id}, {"$unset": {"file": ""}, "$set": {"last_update": now()}})

    def count_using_dataset(self, dataset_id: str) -> int:
        return self.count({"dataset": dataset_id})

    def stored_keys(self, condition: dict) -> Iterator[str]:
        """The object keys of the files of own records matching `condition`, from a cursor."""
        cursor = self.collection.find(both({**condition, "file.key": {"$exists": True}}, self.writable()),
                                      {"file.key": 1, "_id": 0}).batch_size(STREAM_BATCH)
        with cursor:
            for doc in cursor:
                yield doc["file"]["key"]

    def stream(self, data: dict, extra: dict | None = None, batch_size: int = STREAM_BATCH):
        """A cursor over every readable record matching a get_all request (no page cap) and a function
        that makes a document API-shaped. Close the cursor when done."""
        match = self.stream_filter(data, extra)
        sort = query.build_sort(SPEC, data.get("order_by") or ["timestamp"])
        # the hidden file key is dropped by _api, not by a projection the server would apply to each document
        projection = query.build_projection(SPEC, data.get("only_fields")) if data.get("only_fields") else None
        cursor = self.collection.find(match, projection, sort=sort, batch_size=batch_size)
        return cursor, _api

    def stream_filter(self, data: dict, extra: dict | None = None) -> dict:
        """The MongoDB filter `stream` runs (the bench iterates it with bare pymongo to compare)."""
        condition = query.build_filter(SPEC, data)
        return query_shape.flatten([condition, extra, self.readable()], SPEC.narrow_first)
