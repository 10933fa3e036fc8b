"""Records: time-stamped observations of a model (`records.*`), each with an optional stored file.

Collection `records`: `{_id, company, user, model, timestamp (datetime), collection_date ("YYYY-MM-DD"),
data (any JSON), dataset (dataset id), experiment, season, site, info, file?: {key, filename, size,
sha256, content_type}, created, last_update}`. Records are never public.

`stream` hands back a live iterator (not a list) so that records.get_all can send millions of records
as NDJSON in constant memory; the caller closes it when the client goes away. A stream in timestamp order
is read in windows of time (database/time_windows.py), planned from collection `record_bounds`: per company
and model `{_id: "<company>/<model>", company, model, first, last, count}`, the earliest and latest
timestamps of its records and how many were added. Every add and timestamp edit widens them; they are never
narrowed (a record's delete leaves them wide; a model's delete drops them), and they only size the windows,
never decide what a stream returns.
Records written around the API should call `widen_bounds` (bench/records.py does), or their streams are read
as one query.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from bson import decode_all
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.database import Database

from database import query, query_shape
from database.scoped import Resource, ScopedCollection, both
from database.time_windows import TimeWindows, windowed_find

RECORDS = "records"
BOUNDS = "record_bounds"
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
    db[BOUNDS].create_index([("company", ASCENDING), ("model", ASCENDING)])


def widen_bounds(db: Database, company: str, model: str, first: datetime, last: datetime, count: int) -> None:
    """Records of `model` now span [first, last] too, and `count` more of them exist."""
    db[BOUNDS].update_one({"_id": f"{company}/{model}"},
                          {"$min": {"first": first}, "$max": {"last": last}, "$inc": {"count": count},
                           "$setOnInsert": {"company": company, "model": model}}, upsert=True)


def now() -> datetime:
    """The current time to the millisecond, as MongoDB keeps it (so a reply equals a later read)."""
    when = datetime.now(timezone.utc)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _api(doc: dict) -> dict:
    """A streamed document as the API shows it: `id` first, the file's object key left out."""
    if "file" in doc and isinstance(doc["file"], dict):
        doc["file"] = {k: v for k, v in doc["file"].items() if k != "key"}
    return {"id": doc.pop("_id"), **doc} if "_id" in doc else doc


_RANGE = frozenset({"$gte", "$gt", "$lt", "$lte"})


class Records(ScopedCollection):
    resource = RESOURCE

    def insert(self, doc: dict, *, public: bool = False) -> dict:
        super().insert(doc)
        widen_bounds(self.db, self.company, doc["model"], doc["timestamp"], doc["timestamp"], 1)
        return doc

    def edit(self, record_id: str, set_fields: dict, unset_fields: tuple[str, ...] = ()) -> int:
        update: dict = {"$set": {**set_fields, "last_update": now()}}
        if unset_fields:
            update["$unset"] = {f: "" for f in unset_fields}
        if "timestamp" in set_fields:
            record = self.get_writable(record_id, {"model": 1})
            if record is not None:  # widened first: a reader may then see wider bounds, never narrower ones
                when = set_fields["timestamp"]
                widen_bounds(self.db, self.company, record["model"], when, when, 0)
        return self.update(record_id, update)

    def forget_bounds(self, model_id: str) -> None:
        """Drops what the stream planner knew of a model's records (its records are gone with it)."""
        self.db[BOUNDS].delete_one({"_id": f"{self.company}/{model_id}"})

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
        """An iterator over every readable record matching a get_all request (no page cap), as undecoded
        BSON documents, and a function that turns a list of them into API-shaped dicts. Left undecoded,
        a reader can hold a whole window's records ahead of its writer at ~300 bytes each. Close the
        iterator when done."""
        match = self.stream_filter(data, extra)
        sort = query.build_sort(SPEC, data.get("order_by") or ["timestamp"])
        # the hidden file key is dropped by _api, not by a projection the server would apply to each document
        projection = query.build_projection(SPEC, data.get("only_fields")) if data.get("only_fields") else None
        options = self.collection.codec_options
        raw = self.collection.with_options(codec_options=options.with_options(document_class=RawBSONDocument))

        def shape(batch: list[RawBSONDocument]) -> list[dict]:
            return [_api(doc) for doc in decode_all(b"".join([doc.raw for doc in batch]), options)]

        windows = self.stream_windows(match, sort)
        if windows is None:
            return raw.find(match, projection, sort=sort, batch_size=batch_size), shape
        rest = {k: v for k, v in match.items() if k != "timestamp"}
        return windowed_find(raw, rest, windows, projection=projection, sort=sort, batch_size=batch_size), shape

    def stream_windows(self, match: dict, sort: list) -> TimeWindows | None:
        """The windows of time a stream of `match` in `sort` order is read in, or None to read it as one
        query: when it is not in timestamp order, when nothing is known of the records' times, or when its
        filter is not one both servers serve as an index range (company, at most one other equality, a
        timestamp range; the embedded server would read every window through another index's candidates)."""
        if not sort or sort[0][0] != "timestamp":
            return None
        others = [k for k in match if k not in ("company", "timestamp")]
        if match.get("company") != self.company or len(others) > 1:
            return None
        if others and (others[0] not in SPEC.narrow_first or not isinstance(match[others[0]], str)):
            return None
        bounds = match.get("timestamp", {})
        if not isinstance(bounds, dict) or not set(bounds) <= _RANGE or not all(
                isinstance(v, datetime) for v in bounds.values()):
            return None
        condition = {"company": self.company, **({"model": match["model"]} if others == ["model"] else {})}
        known = list(self.db[BOUNDS].find(condition, {"first": 1, "last": 1, "count": 1}))
        if not known:
            return None
        return TimeWindows(min(b["first"] for b in known), max(b["last"] for b in known),
                           sum(b.get("count", 0) for b in known), bounds=bounds, descending=sort[0][1] == -1,
                           target=self.limits.stream_window)

    def stream_filter(self, data: dict, extra: dict | None = None) -> dict:
        """The MongoDB filter `stream` runs (the bench iterates it with bare pymongo to compare)."""
        condition = query.build_filter(SPEC, data)
        return query_shape.flatten([condition, extra, self.readable()], SPEC.narrow_first)
