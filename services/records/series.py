"""records.get_series (modelreg extension, 2.99): one numeric field of a model's records over time,
downsampled in the database to at most `max_points` buckets of equal length, each with its count, min,
max and mean. A chart of a million records thus receives a few thousand points, and the aggregation runs
under a long-read slot (services/shared/long_reads.py) like a stream, since it reads every match."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from services.call import Call
from services.handlers import handles
from services.records import model_data
from services.shared.lookups import readable_model

FILTERS = ("experiment", "season", "site", "dataset")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
RECORD_READS = 2_000  # query.series_record_reads when unset


def _one_dimension(data: dict) -> tuple[str, list[str]] | None:
    """("", []) without filters, (name, values) for one filter of plain values (any of them), which the
    roll-ups keep; None for anything else (several filters, exclusions, operators, null)."""
    given = [name for name in FILTERS if data.get(name) is not None]
    if not given:
        return "", []
    if len(given) > 1:
        return None
    value = data[given[0]]
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v and not v.startswith(("-", "__$")) for v in values):
        return None
    return given[0], sorted(set(values))


def _bucket_ms(call: Call, model: str, start: datetime, end: datetime, max_points: int, hourly: bool) -> int:
    """The buckets' length: the span cut into `max_points`, rounded up to whole hours from half an hour
    (the roll-ups serve those). Shorter buckets are read from the records themselves (~40 us each on the
    embedded server), so with roll-ups to fall back on (`hourly`) a span of a day or more holding more
    than `query.series_record_reads` records (by the model's day counts) is cut into whole hours instead:
    fewer points than asked, one an hour."""
    span_ms = max(0, int((end - start) / timedelta(milliseconds=1))) + 1  # both ends inside
    bucket_ms = max(1, math.ceil(span_ms / max_points))
    if bucket_ms < HOUR_MS // 2 and hourly and span_ms >= DAY_MS:
        budget = int(call.config.get("query.series_record_reads", RECORD_READS)) if call.config else RECORD_READS
        first, last = start.date(), end.date()
        held = sum(n for day, n in call.scope.records.day_counts({"model": model}).items() if first <= day <= last)
        if held > budget:
            bucket_ms = HOUR_MS
    if bucket_ms >= HOUR_MS // 2:
        bucket_ms = math.ceil(bucket_ms / HOUR_MS) * HOUR_MS
    return bucket_ms


def _empty(model: str, field: str | None) -> dict:
    return {"model": model, "field": field, "from": None, "to": None, "bucket_ms": 0, "count": 0, "buckets": []}


@handles("records.get_series")
def get_series(call: Call) -> dict:
    data = call.data
    field, max_points = data.get("field") or None, data["max_points"]
    model = readable_model(call.scope, data["model"], {"_id": 1})["_id"]
    query: dict = {"model": [model], **{name: data[name] for name in FILTERS if data.get(name) is not None}}
    span = model_data.timestamp_span(data)
    if span:
        query["timestamp"] = span
    records = call.scope.records
    match = records.stream_filter(query)
    release = call.stores.long_reads.acquire(call.company)
    try:
        bounds = records.time_bounds(match, model)
        if bounds is None:
            return _empty(model, field)
        start = model_data.parse_time("start_timestamp", data["start_timestamp"]) \
            if data.get("start_timestamp") else bounds[0]
        end = model_data.parse_time("end_timestamp", data["end_timestamp"]) \
            if data.get("end_timestamp") else bounds[1]
        dimension = _one_dimension(data)
        rollup = None if dimension is None else (model, *dimension, end)
        bucket_ms = _bucket_ms(call, model, start, end, max_points, rollup is not None)
        buckets = records.series(match, field, start, bucket_ms, rollup)
    finally:
        release()
    step = timedelta(milliseconds=bucket_ms)
    return {
        "model": model, "field": field, "from": start.isoformat(), "to": end.isoformat(), "bucket_ms": bucket_ms,
        "count": sum(values["count"] for _, values in buckets),
        "buckets": [{"time": (start + step * index).isoformat(), **values} for index, values in buckets],
    }
