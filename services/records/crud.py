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

import json
import logging
import queue
import threading
from datetime import datetime, timedelta

from database import clock
from database.errors import QueryError
from database.query import dates
from services import failures
from services.call import Call, StreamResult, format_version
from services.handlers import handles
from services.records import model_data

log = logging.getLogger("modelreg.records")

NDJSON = "application/x-ndjson"
LINES_PER_CHUNK = 500  # records joined into one write: fewer, larger writes to the socket
NAME_FIELDS = ("experiment", "season", "site")


def _json_default(value):
    if isinstance(value, datetime):
        return clock.as_utc(value).isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=_json_default)


def ndjson_line(record: dict) -> bytes:
    """One record as one NDJSON line: compact, ASCII-escaped JSON (the envelope's encoding), then \\n."""
    return _ENCODER.encode(record).encode() + b"\n"


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
        end = clock.to_millisecond(end) + timedelta(milliseconds=1)
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
        if call.response_format == "ndjson":
            return _stream(call, data, extra)
        records, scroll_id = call.scope.records.find_page(data, extra=extra)
    except QueryError as exc:
        raise failures.from_query_error(exc) from None
    result = {"records": records}
    if scroll_id is not None:
        result["scroll_id"] = scroll_id
    return result


class _Prefetch:
    """Reads the cursor in a thread of its own, up to a window of time ahead of the encoder, so that the
    database fetches (and, in windows, sorts the next window) while this worker encodes and sends (the
    two take turns otherwise). The queue holds at most `depth` batches of undecoded documents: memory
    stays constant however many records match. The thread alone touches the cursor (pymongo cursors
    are not thread-safe) and closes it; `close()` asks it to stop and waits for that."""

    def __init__(self, cursor, first, trx: str, depth: int = 3):
        self.cursor = cursor
        self.trx = trx
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(first,), name="records-stream", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, first) -> None:
        batch = [first]
        try:
            for doc in self.cursor:
                batch.append(doc)
                if len(batch) >= LINES_PER_CHUNK:
                    if not self._put(batch):
                        return
                    batch = []
            if batch:
                self._put(batch)
        except BaseException as exc:  # handed to the encoder, which logs it and ends the body
            self.failure = exc
        finally:
            self.cursor.close()
            self._put(None)

    def batches(self):
        while True:
            batch = self.queue.get()
            if batch is None:
                if self.failure is not None:
                    log.error("trx %s: records stream stopped: %s", self.trx, self.failure)
                return
            yield batch

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def _stream(call: Call, data: dict, extra: dict | None) -> StreamResult:
    cursor, shape = call.scope.records.stream(data, extra)
    start_sec = float(call.config.get("mongo.stream_start_sec", 300)) if call.config is not None else None
    try:
        with failures.deadline(start_sec):
            first = next(cursor, None)  # a bad query fails here, while an error envelope can still be sent
    except BaseException:
        cursor.close()
        raise
    headers = {
        "X-ClearML-Endpoint": call.endpoint,
        "X-ClearML-Trx": call.trx,
        "X-ClearML-Requested-Version": format_version(call.requested_version),
        "X-ClearML-Actual-Version": format_version(call.actual_version),
        "X-Result-Code": "200",
        "X-Result-Subcode": "0",
        "X-Result-Msg": "OK",
    }
    if first is None:
        cursor.close()
        return StreamResult(chunks=[], content_length=0, content_type=NDJSON, headers=headers)
    window = call.scope.records.limits.stream_window
    reader = _Prefetch(cursor, first, call.trx, depth=max(3, window // LINES_PER_CHUNK + 2))

    def chunks():
        for batch in reader.batches():
            yield b"".join([ndjson_line(doc) for doc in shape(batch)])

    return StreamResult(chunks=chunks(), content_length=None, content_type=NDJSON, headers=headers,
                        close=reader.close)


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
