"""changes.get_since: the change feed, a company's numbered entries after a cursor, with a long poll.

A cursor is the seq of the last entry a reply held, as a string: any cursor resumes, on any worker or
host. The long poll looks at MongoDB every `change_log.poll_ms` (never at state of this process) and
holds one of the company's long-read leases while it waits (services/shared/long_reads.py), so one
company's pollers cannot take every worker.
"""

from __future__ import annotations

import time

from services import errors
from services.call import Call
from services.changes import sequencer
from services.changes.entries import public_entry
from services.handlers import handles


def parse_cursor(value) -> int:
    if value is None or value == "":
        return 0
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise errors.FieldsValueError("not a cursor of changes.get_since", field="cursor", value=text[:40])
    return int(text)


@handles("changes.get_since")
def get_since(call: Call) -> dict:
    settings = call.stores.change_settings
    log = call.scope.change_log
    after = parse_cursor(call.data.get("cursor"))
    kinds, limit = call.data.get("kinds") or None, call.data["limit"]
    sequencer.catch_up(log, settings)
    head = log.head()
    if call.data.get("cursor") is None:
        after = head["first_seq"] - 1
    elif after < head["first_seq"] - 1:
        raise errors.CursorExpired(field="cursor", cursor=str(after), first_kept=head["first_seq"])
    entries = log.after(after, kinds, limit)
    wait = min(float(call.data.get("wait_sec") or 0), settings.max_wait_sec)
    if not entries and wait > 0:
        release = call.stores.long_reads.acquire(call.company)
        try:
            deadline = time.monotonic() + wait
            while not entries and time.monotonic() < deadline:
                time.sleep(min(settings.poll_sec, max(0.0, deadline - time.monotonic())))
                sequencer.catch_up(log, settings)
                entries = log.after(after, kinds, limit)
        finally:
            release()
    if entries:
        after = entries[-1]["seq"]
    return {"entries": [public_entry(d) for d in entries], "cursor": str(after)}
