"""audit.*: the company's change log for company admins and auditors."""

from __future__ import annotations

from database.query.dates import parse_datetime
from database.query.prefetch import Prefetch
from services.call import Call, DocumentStream
from services.changes import chain, sequencer
from services.changes.entries import public_entry
from services.handlers import handles


def _condition(data: dict) -> dict:
    condition: dict = {}
    for field, stored in (("target", "target.id"), ("target_type", "target.type"), ("user", "user")):
        if data.get(field) is not None:
            condition[stored] = data[field]
    if data.get("kinds"):
        condition["kind"] = {"$in": list(data["kinds"])}
    window = {}
    if data.get("from") is not None:
        window["$gte"] = parse_datetime(data["from"], "from")
    if data.get("to") is not None:
        window["$lte"] = parse_datetime(data["to"], "to")
    if window:
        condition["time"] = window
    return condition


@handles("audit.get_all")
def get_all(call: Call):
    log = call.scope.change_log
    sequencer.catch_up(log, call.stores.change_settings)
    condition = _condition(call.data)
    if call.response_format == "ndjson":
        return DocumentStream(Prefetch(log.export(condition), lambda batch: [public_entry(d) for d in batch]))
    size = call.data["page_size"]
    docs = log.page(condition, call.data["page"] * size, size)
    return {"entries": [public_entry(d) for d in docs]}


@handles("audit.verify")
def verify(call: Call) -> dict:
    log = call.scope.change_log
    sequencer.catch_up(log, call.stores.change_settings)
    head = log.head()
    checked, broken = chain.verify(log.scan(), head["first_seq"], head["last_seq"])
    return {"ok": broken is None, "checked": checked, "first_break": None if broken is None else {"seq": broken}}
