"""records.*: a model's time-stamped records (modelreg extension, 2.99): read, search, stream, change
and delete. Adding a record and its file is services/records/files.py.

records.get_all answers in the envelope (pages, scrolling) or, when the client sends
`Accept: application/x-ndjson` (the endpoint declares `stream_formats: [ndjson]`), with every match
streamed one JSON object a line: no page cap, constant memory. The handler only names the records: the
cursor is read ahead in a thread by database/query/prefetch.py (in timestamp order window by window of
time, database/query/time_windows.py), and server/http/ndjson.py frames the lines and the headers.
"""

from __future__ import annotations

from datetime import timedelta

from database.errors import QueryError
from database.query import dates
from services import errors
from services.call import Call, DocumentStream
from services.handlers import handles
from services.records import model_data

NAME_FIELDS = ("experiment", "season", "site")


def _conditions(call: Call) -> dict | None:
    """The collection-date range, the one condition of records.get_all the query engine lacks."""
    return model_data.date_range("collection_date", call.data.get("collection_date_range"))


def _request(call: Call) -> dict:
    """The request in the query engine's terms: start/end_timestamp become a `timestamp` range."""
    data = {k: v for k, v in call.data.items() if k not in ("start_timestamp", "end_timestamp",
                                                             "collection_date_range")}
    span = []
    if call.data.get("start_timestamp"):
        span.append(">=" + model_data.parse_time("start_timestamp", call.data["start_timestamp"]).isoformat())
    if call.data.get("end_timestamp"):
        # inclusive at the millisecond MongoDB keeps, written as "< end + 1 ms": the embedded server's
        # index scans drop a document equal to an inclusive upper bound
        end = model_data.parse_time("end_timestamp", call.data["end_timestamp"])
        end = end.replace(microsecond=end.microsecond // 1000 * 1000) + timedelta(milliseconds=1)
        end = min(end, dates.LATEST)  # stored times are whole milliseconds: none lies beyond LATEST's
        span.append("<" + end.isoformat())
    if span:
        data["timestamp"] = span
    data.setdefault("order_by", ["timestamp"])
    return data


@handles("records.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"record": model_data.render(model_data.own_record(call.scope, call.data["record"]))}


@handles("records.get_all")
def get_all(call: Call):
    extra = _conditions(call)
    data = _request(call)
    try:
        if call.response_format == "ndjson":  # every match, read ahead of the writer; the server frames it
            return DocumentStream(call.scope.records.stream(data, extra))
        records, scroll_id = call.scope.records.find_page(data, extra=extra)
    except QueryError as exc:
        raise errors.from_database_error(exc) from None
    result = {"records": records}
    if scroll_id is not None:
        result["scroll_id"] = scroll_id
    return result


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
