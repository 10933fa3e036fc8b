"""What is reported about each call once it is answered: the metrics (services/shared/metrics.py) and the
call's log line (server/http/call_log.py). The dispatcher reports RPC calls, server/http/files_route.py
the transfers of the files-server protocol, both through `finish`, so both count and log alike. Kept out
of the dispatcher so its steps stay readable."""

from __future__ import annotations

import time

from server.http import call_log
from services.call import format_version
from services.shared import metrics


class CallRecord:
    """Opened as a call arrives (its clock and its database/object-store time), closed by `finish`."""

    __slots__ = ("started", "times", "_token")

    def __init__(self):
        self.started = time.perf_counter()
        self.times, self._token = metrics.call_timer()

    def finish(self, meta: dict, status: int, bytes_in: int | None, bytes_out: int | None, streamed: bool,
               error: BaseException | None = None) -> None:
        """`meta` is the caller's record of the call (trx, endpoint, versions, identity, result, and
        `label`: the metric's endpoint label when it is not the served endpoint's name); `error` an
        unhandled exception whose stack the log line carries. A streamed reply is counted up to its first
        byte, with its length when known."""
        metrics.close_call_timer(self._token)
        seconds = time.perf_counter() - self.started
        times = self.times
        served = meta["actual"]
        version = format_version(served) if served is not None else ""
        label = meta.get("label")
        if label is None:
            label = meta["endpoint"] if served is not None else ""  # an unserved name is not a label
        metrics.record_call(label, version, status, seconds, times)
        identity = meta.get("identity")
        code, subcode = meta.get("result") or (status, 0)
        fields = {
            "trx": meta["trx"],
            "endpoint": meta["endpoint"],
            "requested": format_version(meta["requested"]) if meta["requested"] else None,
            "served": version or None,
            "company": identity.company if identity is not None else None,
            "user": identity.user if identity is not None else None,
            "status": status,
            "result_code": code,
            "result_subcode": subcode,
            "duration_ms": round(seconds * 1000, 3),
            "db_ms": round(times.database_sec * 1000, 3),
            "db_ops": times.database_ops,
            "store_ms": round(times.store_sec * 1000, 3),
            "bytes_in": bytes_in or 0,
            "bytes_out": bytes_out,
            "remote_addr": meta.get("remote_addr"),
        }
        if streamed:
            fields["streamed"] = True  # duration and byte counts up to the reply's first byte
        call_log.write(fields, error)
