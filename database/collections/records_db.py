"""Records: time-stamped observations of a model (`records.*`), each with an optional stored file.

Collection `records`: `{_id, company, user, model, timestamp (datetime), collection_date ("YYYY-MM-DD"),
data (any JSON), dataset (dataset id), experiment, season, site, info, file?: {key, filename, size,
sha256, content_type}, created, last_update}`. Records are never public.

`stream` hands back a cursor read ahead in a thread (database/query/prefetch.py), not a list, so that
records.get_all can send millions of records as NDJSON in constant memory; the caller closes it when the
client goes away. A stream in timestamp order
is read in windows of time (database/query/time_windows.py), planned from the records' per-day counts
(database/collections/record_days_db.py), which only size the windows, never decide what a stream
returns. Records written around the API should be counted with `record_days_db.count_days`
(bench/records.py does), or their streams are read as one query.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone

from bson import decode_all
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.database import Database

from database import clock, connection
from database.collections import record_days_db
from database.collections import record_rollups_db as rollups
from database.collections.scoped import Resource, ScopedCollection, both
from database.query import engine as query
from database.query import shape as query_shape
from database.query.prefetch import BATCH_DOCUMENTS, Prefetch
from database.query.readable import Bounded
from database.query.time_windows import conditions, cuts, windowed_find

RECORDS = "records"
DAYS = record_days_db.DAYS
NAME_FIELDS = ("experiment", "season", "site")
SPEC = query.QuerySpec(
    list_fields=frozenset({"id", "model", "dataset", "experiment", "season", "site", "collection_date", "user"}),
    datetime_fields=frozenset({"timestamp", "created", "last_update"}),
    text_fields=("id", "experiment", "season", "site"),
    secret_fields=frozenset({"file.key"}),  # the object key stays inside; get_all never shows it
    known_fields=frozenset({"id", "company", "user", "model", "timestamp", "collection_date", "data", "dataset",
                            "experiment", "season", "site", "info", "file", "created", "last_update"}),
    numeric_sort_fields=frozenset(),
    never_empty=frozenset({"timestamp", "created", "_id"}),
    # a model holds many records, a site or a season of it far fewer, one collection date fewer still
    narrow_first=("collection_date", "site", "season", "experiment", "dataset", "model"),
)
RESOURCE = Resource("records", RECORDS, SPEC, shareable=False)
STREAM_BATCH = 2000  # documents per round trip while streaming
REFRESH_HOURS = 24  # stale roll-up hours a records.get_series call recomputes and writes back


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
    record_days_db.ensure_indexes(db)


def every_models_records(db: Database, fields: dict) -> Iterator[tuple[str, str, Iterable[dict]]]:
    """(company, model, its records with `fields`) for every model that has records, read model by model
    (upgrade steps that rebuild what adds keep beside the records)."""
    owners = db[RECORDS].aggregate([{"$group": {"_id": {"company": "$company", "model": "$model"}}}])
    for owner in list(owners):
        company, model = owner["_id"].get("company"), owner["_id"].get("model")
        if isinstance(company, str) and isinstance(model, str):
            yield company, model, db[RECORDS].find({"model": model, "company": company}, fields, batch_size=2000)


def _dated(docs: Iterable[dict]):
    """(collection date, timestamp) of the records that have a collection date."""
    return [(d["collection_date"], d["timestamp"]) for d in docs if isinstance(d.get("collection_date"), str)]


def _day(when: datetime) -> date:
    return clock.as_utc(when).astimezone(timezone.utc).date()


def _api(doc: dict) -> dict:
    """A streamed document as the API shows it: `id` first, the file's object key left out."""
    query.drop_secrets(SPEC, doc)
    return {"id": doc.pop("_id"), **doc} if "_id" in doc else doc


_RANGE = frozenset({"$gte", "$gt", "$lt", "$lte"})


class Records(ScopedCollection):
    resource = RESOURCE

    def insert(self, doc: dict, *, public: bool = False) -> dict:
        # counted before it exists: a failure in between leaves a count too high (harmless), never a
        # stored record whose add answered an error
        self._counted.clear()
        record_days_db.count_days(self.db, self.company, doc["model"], {_day(doc["timestamp"]): 1}, _dated([doc]))
        with self._rolled_up([doc]):
            return super().insert(doc)

    def insert_many(self, docs: list[dict]) -> int:
        """Stores a batch of new records (records.add_many), their days counted first as `insert` does:
        one count per model and month for the whole batch."""
        per_model: dict[str, Counter] = {}
        for doc in docs:
            per_model.setdefault(doc["model"], Counter())[_day(doc["timestamp"])] += 1
        self._counted.clear()
        for model, counts in per_model.items():
            dated = _dated(d for d in docs if d["model"] == model)
            record_days_db.count_days(self.db, self.company, model, counts, dated)
        with self._rolled_up(docs):
            return super().insert_many(docs)

    @contextlib.contextmanager
    def _rolled_up(self, docs: list[dict]):
        """New records stored inside with their roll-ups kept right (record_rollups_db): their hours
        marked as being written, then their sums added; on a failure the hours are marked stale."""
        hours = rollups.begin(self.db, self.company, ((d["model"], rollups.hour_of(d["timestamp"])) for d in docs))
        try:
            yield
        except BaseException:
            rollups.changed(self.db, self.company, hours)
            raise
        rollups.added(self.db, self.company, rollups.slots_of(docs))

    @contextlib.contextmanager
    def _changing(self, hours):
        """Records of these (model, hour) edited or deleted inside: the hours stale afterwards."""
        hours = rollups.begin(self.db, self.company, hours)
        try:
            yield
        finally:
            rollups.changed(self.db, self.company, hours)

    def edit(self, record: dict, set_fields: dict, unset_fields: tuple[str, ...] = ()) -> int:
        """Changes an own record (as read by the caller: its `_id`, `model` and `timestamp`)."""
        update: dict = {"$set": {**set_fields, "last_update": clock.now()}}
        if unset_fields:
            update["$unset"] = {f: "" for f in unset_fields}
        if "timestamp" in set_fields:  # counted first: a reader may then count it twice, never miss it
            self._counted.clear()
            record_days_db.count_days(self.db, self.company, record["model"], {_day(set_fields["timestamp"]): 1})
        hours = {(record["model"], rollups.hour_of(t)) for t in (record["timestamp"], set_fields.get("timestamp"))
                 if t is not None}
        with self._changing(hours):
            return self.update(record["_id"], update)

    def delete_many(self, condition: dict) -> int:
        """Deletes own records; their hours' roll-ups are then stale. A whole model's records (its
        removal) skip that: `forget_days` drops its roll-ups."""
        if set(condition) == {"model"} and isinstance(condition["model"], str):
            return super().delete_many(condition)
        hours = {(d["model"], rollups.hour_of(d["timestamp"]))
                 for d in self.collection.find(both(condition, self.writable()), {"model": 1, "timestamp": 1})}
        with self._changing(hours):
            return super().delete_many(condition)

    def forget_days(self, model_id: str) -> None:
        """Drops what the stream planner and the roll-ups knew of a model's records (its records are gone
        with it)."""
        self._counted.clear()
        self.db[DAYS].delete_many({"company": self.company, "model": model_id})
        rollups.forget(self.db, self.company, model_id)

    def set_file(self, record_id: str, file: dict) -> dict | None:
        """Points the record at a newly stored file; returns the record as it was (None if gone)."""
        return self.find_one_and_update({"_id": record_id}, {"$set": {"file": file, "last_update": clock.now()}})

    def clear_file(self, record_id: str) -> dict | None:
        return self.find_one_and_update({"_id": record_id},
                                        {"$unset": {"file": ""}, "$set": {"last_update": clock.now()}})

    def count_using_dataset(self, dataset_id: str) -> int:
        return self.count({"dataset": dataset_id})

    def stored_keys(self, condition: dict) -> Iterator[str]:
        """The object keys of the files of own records matching `condition`, from a cursor."""
        cursor = self.collection.find(both({**condition, "file.key": {"$exists": True}}, self.writable()),
                                      {"file.key": 1, "_id": 0}).batch_size(STREAM_BATCH)
        with cursor:
            for doc in cursor:
                yield doc["file"]["key"]

    def stream(self, data: dict, extra: dict | None = None, batch_size: int = STREAM_BATCH) -> Prefetch:
        """Every readable record matching a get_all request (no page cap), read ahead of its consumer in
        batches (database/query/prefetch.py): `open()` it, then take `batches()` of API-shaped dicts; close
        it when done. Read ahead undecoded, a reader holds up to a whole window's records ahead of its writer
        at ~300 bytes each."""
        match = self.stream_filter(data, extra)
        sort = query.build_sort(SPEC, data.get("order_by") or ["timestamp"])
        # the secret file key is dropped by _api, not by a projection the server would apply to each document
        projection = query.build_projection(SPEC, data.get("only_fields")) if data.get("only_fields") else None
        options = self.collection.codec_options
        raw = self.collection.with_options(codec_options=options.with_options(document_class=RawBSONDocument))

        def shape(batch: list[RawBSONDocument]) -> list[dict]:
            return [_api(doc) for doc in decode_all(b"".join([doc.raw for doc in batch]), options)]

        windows = self.stream_windows(match, sort)
        if windows is None:
            cursor = raw.find(match, projection, sort=sort, batch_size=batch_size)
        else:
            cursor = windowed_find(raw, match, windows, projection=projection, sort=sort, batch_size=batch_size)
        # deep enough to hold a window ahead: the next window's query runs while this one is sent
        return Prefetch(cursor, shape, depth=max(3, self.limits.stream_window // BATCH_DOCUMENTS + 2))

    def stream_windows(self, match: dict, sort: list) -> list[dict] | None:
        """The timestamp conditions of the windows a stream of `match` in `sort` order is read in, or None
        to read it as one query: when it is not in timestamp order, when no record's day is counted, or
        when its filter is not one both servers serve as an index range (company, at most one other
        equality, a timestamp range; the embedded server would read every window through another
        index's candidates)."""
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
        per_day = self.day_counts(match if others == ["model"] else {})
        if not per_day:
            return None
        return conditions(cuts(per_day, self.limits.stream_window, bounds), bounds, descending=sort[0][1] == -1)

    @functools.cached_property
    def _counted(self) -> dict[str | None, Counter]:
        """The day counts read in this call (a scope lives for one call), by model; every write here that
        counts records empties it."""
        return {}

    def day_counts(self, match: dict) -> Counter:
        """Records added per day (UTC) of the model `match` names with one value, else of the company: read
        once a call (a chart's bounds, probes and windows each ask)."""
        model = match.get("model")
        key = model if isinstance(model, str) else None
        if key not in self._counted:
            self._counted[key] = record_days_db.day_counts(self.db, self.company, key)
        return self._counted[key]

    def date_span(self, match: dict) -> tuple[datetime, datetime] | None:
        """Where the records of the collection dates `match` asks for lie in time, as noted when they were
        added (None: no collection date asked, or none noted). One date with none noted (its records were
        stored before the notes, or around the API) is looked up once and noted."""
        model, dates = match.get("model"), match.get("collection_date")
        if dates is None or not isinstance(model, str):
            return None
        span = record_days_db.date_span(self.db, self.company, model, dates)
        if span is None and isinstance(dates, str):
            found = list(self.db[RECORDS].aggregate([
                {"$match": {"model": model, "company": self.company, "collection_date": dates}},
                {"$group": {"_id": None, "first": {"$min": "$timestamp"}, "last": {"$max": "$timestamp"}}}]))
            if found and isinstance(found[0].get("first"), datetime) and isinstance(found[0].get("last"), datetime):
                span = found[0]["first"], found[0]["last"]
                record_days_db.count_days(self.db, self.company, model, {}, [(dates, span[0]), (dates, span[1])])
        return span

    def time_pager(self) -> query.TimePager | None:
        # the embedded server sorts every match before its limit; MongoDB walks the index and stops
        if not connection.is_embedded(self.db):
            return None
        return query.TimePager("timestamp", SPEC.narrow_first, self.day_counts, self.date_span,
                               record_days_db.date_probes)

    def time_bounds(self, match: dict, model: str) -> tuple[datetime, datetime] | None:
        """A span of time that holds every record of `match` (a `stream_filter` on `model`), or None when
        nothing matches. From the per-day counts when the model has any: the start of its first counted
        day to the end of its last, with one index range read each way to confirm that no record lies
        outside (the embedded server sorts every match of a `sort`, a million records for a
        model). Else (no counts, a time range asked, records outside the counted days) the first and last
        matching timestamps themselves."""
        days = [day for day, count in self.day_counts({"model": model}).items() if count]
        if days and "timestamp" not in match:
            low, high = clock.start_of_day(min(days)), clock.start_of_day(max(days)) + timedelta(days=1)
            # each an index range (no $or: the embedded server would scan the collection)
            outside = (self._first({**match, "timestamp": {"$lt": low}}, ASCENDING)
                       or self._first({**match, "timestamp": {"$gte": high}}, ASCENDING))
            if outside is None:
                if self._first(match, ASCENDING) is None:
                    return None
                return low, high - timedelta(milliseconds=1)
        first = self._first(match, ASCENDING)
        if first is None:
            return None
        last = self._first(match, -1)
        return first["timestamp"], (last or first)["timestamp"]

    def _first(self, match: dict, direction: int) -> dict | None:
        """The first record of `match` in timestamp order (`direction` 1 or -1), its timestamp only. On the
        embedded server through the time pager: a plain `find_one` there decodes every match first."""
        sort = [("timestamp", direction), ("_id", ASCENDING)]
        pager = self.time_pager()
        if pager is not None:
            found = pager.read(self.collection, match, sort, {"timestamp": 1}, 0, 1, Bounded(self.collection, 0))
            if found is not None:
                return found[0] if found else None
        return self.collection.find_one(match, {"timestamp": 1}, sort=sort)

    def series(self, match: dict, field: str | None, start: datetime, bucket_ms: int,
               rollup: tuple[str, str, list[str], datetime] | None = None) -> list[tuple[int, dict]]:
        """Buckets of `bucket_ms` from `start` of the records matching `match` (a `stream_filter`), as
        (bucket index, values): with a `field`, `{count, min, max, mean}` of the numeric values of
        `data.<field>`; without, the records' `{count}`. In time order.

        With `rollup` = (model, dimension, values, end), saying that `match` is that model's records
        (with `dimension` "" or one of record_rollups_db.DIMENSIONS equal to one of `values`) up to
        `end`, the buckets come from the per-hour roll-ups when they can (whole hours from a whole
        hour), with the hours they cannot vouch for aggregated from the records, and stale hours seen
        are recomputed (up to REFRESH_HOURS). Else everything is aggregated in the database, window by
        window of time (each an index range under its own deadline) and the partial buckets merged, so
        no single database operation reads more than one window's records."""
        def aggregate(condition: dict | None) -> dict[int, dict]:
            return self._series_parts({**match, "timestamp": condition} if condition else match, field, start,
                                      bucket_ms)

        merged = None
        if rollup is not None:
            model, dim, values, end = rollup
            served = rollups.series(self.db, self.company, model, dim, values, field, start, end, bucket_ms,
                                    aggregate, self.day_counts({"model": model}))
            if served is not None:
                merged, stale = served
                for hour, head in stale[:REFRESH_HOURS]:
                    hour_range = {"$gte": hour, "$lt": hour + rollups.HOUR}
                    found = self.collection.find(
                        {"model": model, "company": self.company, "timestamp": hour_range},
                        {"model": 1, "timestamp": 1, "data": 1, **{d: 1 for d in rollups.DIMENSIONS}})
                    rollups.refresh(self.db, self.company, model, hour, head, found)
        if merged is None:
            windows = self.stream_windows(match, [("timestamp", ASCENDING)]) or [match.get("timestamp")]
            rest = {k: v for k, v in match.items() if k != "timestamp"}
            merged = {}
            for condition in windows:
                part = {**rest, "timestamp": condition} if condition else rest
                for key, doc in self._series_parts(part, field, start, bucket_ms).items():
                    rollups.merge(merged, key, doc, bool(field))
        out = []
        for key in sorted(merged):
            doc = merged[key]
            if field:
                out.append((key, {"count": doc["count"], "min": doc["min"], "max": doc["max"],
                                  "mean": doc["sum"] / doc["count"]}))
            else:
                out.append((key, {"count": doc["count"]}))
        return out

    def _series_parts(self, match: dict, field: str | None, start: datetime, bucket_ms: int) -> dict[int, dict]:
        """{bucket: {count, min, max, sum}} of the records of `match`: aggregated in the database, or on the
        embedded server read and summed here, which costs it ~40% less (~33 against ~57 us a record: its
        aggregation stages run in Python one document at a time)."""
        if connection.is_embedded(self.db):
            return self._series_read(match, field, start, bucket_ms)
        return self._series_grouped(match, field, start, bucket_ms)

    def _series_read(self, match: dict, field: str | None, start: datetime, bucket_ms: int) -> dict[int, dict]:
        """`_series_grouped`'s buckets from the matching records' timestamps (and values of `field`, a
        dotted path in `data`: a number, not a boolean, reached through objects only), as it makes them."""
        out: dict[int, dict] = {}
        first = clock.epoch_ms(start)
        path = field.split(".") if field else []
        projection = {"_id": 0, "timestamp": 1, **({f"data.{field}": 1} if field else {})}
        for doc in self.collection.find(match, projection):
            index = (clock.epoch_ms(doc["timestamp"]) - first) // bucket_ms
            if not field:
                rollups.merge(out, index, {"count": 1}, False)
                continue
            value = doc.get("data")
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rollups.merge(out, index, {"count": 1, "min": value, "max": value, "sum": value}, True)
        return out

    def _series_grouped(self, match: dict, field: str | None, start: datetime, bucket_ms: int) -> dict[int, dict]:
        """{bucket: {count, min, max, sum}} of the records of `match`, aggregated in the database."""
        bucket = {"$floor": {"$divide": [{"$subtract": ["$timestamp", start]}, bucket_ms]}}
        if field:
            stages = [
                {"$project": {"_id": 0, "timestamp": 1, "v": f"$data.{field}"}},
                # text, booleans, objects, arrays and missing values are left out (a `$type` match would take
                # an array holding a number, and $min/$max would then compare whole arrays)
                {"$match": {"$expr": {"$isNumber": "$v"}}},
                {"$group": {"_id": bucket, "count": {"$sum": 1}, "min": {"$min": "$v"}, "max": {"$max": "$v"},
                            "sum": {"$sum": "$v"}}},
            ]
        else:
            stages = [{"$project": {"_id": 0, "timestamp": 1}}, {"$group": {"_id": bucket, "count": {"$sum": 1}}}]
        out = {}
        for doc in self.collection.aggregate([{"$match": match}, *stages]):
            out[int(doc.pop("_id"))] = doc
        return out

    def stream_filter(self, data: dict, extra: dict | None = None) -> dict:
        """The MongoDB filter `stream` runs (the bench iterates it with bare pymongo to compare)."""
        condition = query.build_filter(SPEC, data)
        return query_shape.match(self.db, SPEC, [condition, extra, self.readable()])
