"""What the dispatcher reports about each call once it is answered: the metrics (services/shared/metrics.py)
and the call's log line (server/http/call_log.py). Kept out of the dispatcher so its steps stay readable."""

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

    def finish(self, meta: dict, outcome, bytes_in: int | None, error: BaseException | None = None) -> None:
        """`meta` is the dispatcher's record of the call (trx, endpoint, versions, identity, result);
        `error` an unhandled exception whose stack the log line carries."""
        metrics.close_call_timer(self._token)
        seconds = time.perf_counter() - self.started
        times = self.times
        served = meta["actual"]
        endpoint = meta["endpoint"] if served is not None else ""  # an unserved name is not a label
        version = format_version(served) if served is not None else ""
        metrics.record_call(endpoint, version, outcome.status, seconds, times)
        identity = meta.get("identity")
        code, subcode = meta.get("result") or (outcome.status, 0)
        stream = outcome.stream
        fields = {
            "trx": meta["trx"],
            "endpoint": meta["endpoint"],
            "requested": format_version(meta["requested"]) if meta["requested"] else None,
            "served": version or None,
            "company": identity.company if identity is not None else None,
            "user": identity.user if identity is not None else None,
            "status": outcome.status,
            "result_code": code,
            "result_subcode": subcode,
            "duration_ms": round(seconds * 1000, 3),
            "db_ms": round(times.database_sec * 1000, 3),
            "db_ops": times.database_ops,
            "store_ms": round(times.store_sec * 1000, 3),
            "bytes_in": bytes_in or 0,
            "bytes_out": len(outcome.body) if stream is None else stream.content_length,
            "remote_addr": meta.get("remote_addr"),
        }
        if stream is not None:
            fields["streamed"] = True  # duration and byte counts up to the reply's first byte
        call_log.write(fields, error)
