"""records.*: a model's time-stamped records (modelreg extension, 2.99): read, search, stream, change
and delete. Adding a record and its file is services/record_files.py.

records.get_all answers in the envelope (pages, scrolling) or, when the client sends
`Accept: application/x-ndjson` (the endpoint declares `stream_formats: [ndjson]`), with every match
streamed one JSON object a line straight from a database cursor: no page cap, constant memory, the
envelope's meta in X-ClearML-* headers. The cursor is closed when the response ends or the client goes
away (the WSGI server closes the body iterator).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from database.errors import QueryError
from services import errors
from services.call import Call, StreamResult, format_version
from services.handlers import handles
from services.workflows import model_data

log = logging.getLogger("modelreg.records")

NDJSON = "application/x-ndjson"
LINES_PER_CHUNK = 500  # records joined into one write: fewer, larger writes to the socket
NAME_FIELDS = ("experiment", "season", "site")


def _own_record(call: Call, record_id: str) -> dict:
    record = call.scope.records.get(record_id)
    if record is None:
        raise errors.InvalidRecordId(id=record_id)
    return record


def _json_default(value):
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def ndjson_line(record: dict) -> bytes:
    """One record as one NDJSON line: compact, ASCII-escaped JSON (the envelope's encoding), then \\n."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True, default=_json_default).encode() + b"\n"


def _conditions(call: Call) -> dict | None:
    """The collection-date range, the one condition of records.get_all the query engine lacks."""
    return model_data.date_range("collection_date", call.data.get("collection_date_range"))


def _request(call: Call) -> dict:
    """The request in the query engine's terms: start/end_timestamp become a `timestamp` range."""
    data = {k: v for k, v in call.data.items() if k not in ("start_timestamp", "end_timestamp",
                                                             "collection_date_range")}
    span = []
    for name, prefix in (("start_timestamp", ">="), ("end_timestamp", "<=")):
        if call.data.get(name):
            span.append(prefix + model_data.parse_time(name, call.data[name]).isoformat())
    if span:
        data["timestamp"] = span
    data.setdefault("order_by", ["timestamp"])
    return data


@handles("records.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"record": model_data.render(_own_record(call, call.data["record"]))}


@handles("records.get_all")
def get_all(call: Call):
    extra = _conditions(call)
    data = _request(call)
    try:
        if call.response_format == "ndjson":
            return _stream(call, data, extra)
        records, scroll_id = call.scope.records.find_page(data, extra=extra)
    except QueryError as exc:
        raise errors.from_database_error(exc) from None
    result = {"records": records}
    if scroll_id is not None:
        result["scroll_id"] = scroll_id
    return result


def _stream(call: Call, data: dict, extra: dict | None) -> StreamResult:
    cursor, shape = call.scope.records.stream(data, extra)
    try:
        first = next(cursor, None)  # a bad query fails here, while an error envelope can still be sent
    except BaseException:
        cursor.close()
        raise

    def chunks():
        if first is None:
            return
        lines = [ndjson_line(shape(first))]
        try:
            for doc in cursor:
                lines.append(ndjson_line(shape(doc)))
                if len(lines) >= LINES_PER_CHUNK:
                    yield b"".join(lines)
                    lines = []
        except QueryError:
            log.exception("trx %s: records stream stopped", call.trx)
        if lines:
            yield b"".join(lines)

    headers = {
        "X-ClearML-Endpoint": call.endpoint,
        "X-ClearML-Trx": call.trx,
        "X-ClearML-Requested-Version": format_version(call.requested_version),
        "X-ClearML-Actual-Version": format_version(call.actual_version),
        "X-Result-Code": "200",
        "X-Result-Subcode": "0",
        "X-Result-Msg": "OK",
    }
    return StreamResult(chunks=chunks(), content_length=None, content_type=NDJSON, headers=headers,
                        close=cursor.close)


@handles("records.edit")
def edit(call: Call) -> dict:
    data = call.data
    record = _own_record(call, data["record"])
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
    if data.get("timestamp") is not None:
        set_fields["timestamp"] = model_data.parse_time("timestamp", data["timestamp"])
    if not set_fields and not unset:
        return {"updated": 0, "record": model_data.render(record)}
    updated = call.scope.records.edit(record["_id"], set_fields, tuple(unset))
    record = _own_record(call, record["_id"])
    return {"updated": updated, "record": model_data.render(record)}


@handles("records.delete")
def delete(call: Call) -> dict:
    record = _own_record(call, call.data["record"])
    return {"deleted": model_data.remove_records(call.scope, call.stores, {"_id": record["_id"]})}


@handles("records.delete_many")
def delete_many(call: Call) -> dict:
    ids = list(dict.fromkeys(call.data["ids"]))
    found = call.scope.records.writable_ids(ids)
    deleted = model_data.remove_records(call.scope, call.stores, {"_id": {"$in": sorted(found)}}) if found else 0
    return {"deleted": deleted, "not_found": [i for i in ids if i not in found]}
