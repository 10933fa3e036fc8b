"""What datasets.* and records.* share: the model they belong to, a dataset named by id or by name,
collection-date ranges, and removing records with their stored files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from database import ids
from database.collections.scope import Scope
from database.errors import STORAGE_UNAVAILABLE
from database.query import engine
from services import errors
from services.call import Stores
from services.shared.lookups import found

log = logging.getLogger("modelreg.model_data")

def own_model(scope: Scope, model_id: str) -> dict:
    """Datasets and records belong to the caller's own models (never to another company's public one:
    its owner could not delete it without reaching into the caller's data)."""
    return found(scope.models.get_writable(model_id, {"_id": 1, "name": 1, "project": 1}),
                 errors.InvalidModelId("no such company model", id=model_id, company=scope.company))


def own_dataset(scope: Scope, dataset_id: str) -> dict:
    return found(scope.datasets.get(dataset_id), errors.InvalidDatasetId(id=dataset_id))


def own_record(scope: Scope, record_id: str) -> dict:
    return found(scope.records.get(record_id), errors.InvalidRecordId(id=record_id))


def dataset_of_model(scope: Scope, model_id: str, value: str | None) -> str | None:
    """The id of the model's dataset named by `value` (an id, else a name within the model)."""
    if not value:
        return None
    dataset = scope.datasets.find_one({"_id": value, "model": model_id}, {"_id": 1}, own_only=True) \
        or scope.datasets.by_name(model_id, value)
    if dataset is None:
        raise errors.InvalidDatasetId("no dataset of this model has this id or name", dataset=value, model=model_id)
    return dataset["_id"]


def date_range(field: str, value) -> dict | None:
    """[from, to] of YYYY-MM-DD dates (either may be null) as a condition on `field`."""
    if value is None:
        return None
    low, high = value
    if low is not None and low == high:
        # one date: stored dates are YYYY-MM-DD, so the range is that value, which an index led by the
        # field serves as one key (the embedded server scans a range of it whole for every window of time)
        return {field: engine.parse_date(low, f"{field}_range").isoformat()}
    ops = {}
    if low is not None:
        ops["$gte"] = engine.parse_date(low, f"{field}_range").isoformat()
    if high is not None:
        # "on or before high" as "before the next day": the embedded server's index scans drop a value
        # equal to an inclusive upper bound
        ops["$lt"] = (engine.parse_date(high, f"{field}_range") + timedelta(days=1)).isoformat()
    return {field: ops} if ops else None


def checked_date(name: str, value):
    """A YYYY-MM-DD date to store, as given (null passes); 400 naming the field otherwise."""
    if value is not None:
        engine.parse_date(value, name)
    return value


def delete_objects(stores: Stores, keys: Iterable[str]) -> int:
    """Deletes stored record files; a storage failure is logged, not raised (the records are gone and a
    leftover object is harmless). Returns how many were deleted."""
    if stores.blobs is None:
        return 0
    deleted = 0
    for key in keys:
        try:
            deleted += bool(stores.blobs.delete(key))
        except STORAGE_UNAVAILABLE as exc:
            log.error("could not delete the record file %s: %s", key, exc)
    return deleted


def remove_records(scope: Scope, stores: Stores, condition: dict) -> int:
    """Deletes the caller's records matching `condition` and then their files; returns the count."""
    keys = list(scope.records.stored_keys(condition))
    count = scope.records.delete_many(condition)
    delete_objects(stores, keys)
    return count


def new_record(user: str, model_id: str, fields: dict, dataset: str | None, when) -> dict:
    """A record document from the fields of records.add (or one line of records.add_many), checked;
    400 naming the field otherwise. `dataset` is the id already resolved from the fields' `dataset`."""
    return {
        "_id": ids.new_id(),
        "user": user,
        "model": model_id,
        "timestamp": parse_time("timestamp", fields["timestamp"]) if fields.get("timestamp") else when,
        "collection_date": checked_date("collection_date", fields.get("collection_date")),
        "data": fields.get("data"),
        "dataset": dataset,
        **{name: fields.get(name) for name in ("experiment", "season", "site")},
        "info": fields.get("info") or {},
        "created": when,
        "last_update": when,
    }


def timestamp_span(request: dict) -> list[str]:
    """`start_timestamp` / `end_timestamp` of a request as the query engine's `timestamp` date filter."""
    span = []
    if request.get("start_timestamp"):
        span.append(">=" + parse_time("start_timestamp", request["start_timestamp"]).isoformat())
    if request.get("end_timestamp"):  # inclusive (the query engine writes it as before the next millisecond)
        span.append("<=" + parse_time("end_timestamp", request["end_timestamp"]).isoformat())
    return span


def parse_time(name: str, value):
    """An ISO 8601 request value as an aware UTC datetime (400/12 naming the field otherwise)."""
    return engine.parse_datetime(value, name)


def render(doc: dict) -> dict:
    """A stored record or dataset as the API shows it (the stored file's object key stays inside)."""
    out = {("id" if k == "_id" else k): v for k, v in doc.items()}
    if isinstance(out.get("file"), dict):
        out["file"] = {k: v for k, v in out["file"].items() if k != "key"}
    return out
