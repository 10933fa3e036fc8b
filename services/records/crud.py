"""records.*: a model's time-stamped records (modelreg extension, 2.99): read, search, stream, change
and delete. Adding a record and its file is services/records/files.py.

records.get_all answers in the envelope (pages, scrolling) or, when the client sends
`Accept: application/x-ndjson` (the endpoint declares `stream_formats: [ndjson]`), with every match
streamed one JSON object a line straight from database cursors: no page cap, constant memory, the
envelope's meta in X-ClearML-* headers. In timestamp order the records are read window by window of time
(database/query/time_windows.py). The cursor is closed when the response ends or the client goes away (the
WSGI server closes the body iterator).
"""

from __future__ import annotations

from services.call import Call, DocumentStream
from services.handlers import handles
from services.records import model_data
from services.shared import listing

NAME_FIELDS = ("experiment", "season", "site")


def _prepare(call: Call, data: dict, extended: bool = False) -> dict | None:
    """The request in the query engine's terms, in place: start/end_timestamp become a `timestamp` range.
    Returns the collection-date range, the one condition of records.get_all the query engine lacks."""
    extra = model_data.date_range("collection_date", call.data.get("collection_date_range"))
    for key in ("start_timestamp", "end_timestamp", "collection_date_range"):
        data.pop(key, None)
    span = model_data.timestamp_span(call.data)
    if span:
        data["timestamp"] = span
    data.setdefault("order_by", ["timestamp"])
    return extra


LISTING = listing.Listing(reply_key="records", scoped=lambda scope: scope.records, prepare=_prepare)


@handles("records.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"record": model_data.render(model_data.own_record(call.scope, call.data["record"]))}


@handles("records.get_all")
def get_all(call: Call):
    if call.response_format == "ndjson":
        # every match, read ahead of the writer; the server frames it
        data, extra, _, _ = listing.request(call, LISTING, extended=False)
        return DocumentStream(call.scope.records.stream(data, extra))
    return listing.page(call, LISTING, extended=False)


@handles("records.edit")
def edit(call: Call) -> dict:
    data = call.data
    record = model_data.own_record(call.scope, data["record"])
    set_fields: dict = {}
    unset: list[str] = []
    for name in NAME_FIELDS:
        if name in data:
            if data[name] is None:
                unset.append(name)
            else:
                set_fields[name] = data[name]
    if "dataset" in data:
        dataset = model_data.dataset_of_model(call.scope, record["model"], data["dataset"])
        if dataset is None:
            unset.append("dataset")
        else:
            set_fields["dataset"] = dataset
    for name in ("data", "info", "collection_date"):
        if name in data:
            set_fields[name] = data[name]
    model_data.checked_date("collection_date", set_fields.get("collection_date"))
    if data.get("timestamp") is not None:
        set_fields["timestamp"] = model_data.parse_time("timestamp", data["timestamp"])
    if not set_fields and not unset:
        return {"updated": 0, "record": model_data.render(record)}
    updated = call.scope.records.edit(record, set_fields, tuple(unset))
    record = model_data.own_record(call.scope, record["_id"])
    return {"updated": updated, "record": model_data.render(record)}


@handles("records.delete")
def delete(call: Call) -> dict:
    record = model_data.own_record(call.scope, call.data["record"])
    return {"deleted": model_data.remove_records(call.scope, call.stores, {"_id": record["_id"]})}


@handles("records.delete_many")
def delete_many(call: Call) -> dict:
    ids = list(dict.fromkeys(call.data["ids"]))
    found = call.scope.records.writable_ids(ids)
    deleted = model_data.remove_records(call.scope, call.stores, {"_id": {"$in": sorted(found)}}) if found else 0
    return {"deleted": deleted, "not_found": [i for i in ids if i not in found]}
